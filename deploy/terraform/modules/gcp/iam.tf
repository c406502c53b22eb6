resource "google_service_account" "meshfed" {
  project      = var.project_id
  account_id   = "${var.name}-meshfed"
  display_name = "meshfed ${var.name}: read-only discovery and its own secrets"
}

# Discovery lists instances, forwarding rules and network endpoint groups: compute.viewer
# covers exactly that, read-only.
resource "google_project_iam_member" "discovery" {
  for_each = toset(var.discovery_projects)

  project = each.value
  role    = "roles/compute.viewer"
  member  = "serviceAccount:${google_service_account.meshfed.email}"
}

resource "google_secret_manager_secret_iam_member" "own_secrets" {
  for_each = google_secret_manager_secret.meshfed

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.meshfed.email}"
}
