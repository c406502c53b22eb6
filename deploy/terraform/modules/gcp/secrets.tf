# 32 random bytes, base64: the key-encryption key that seals the CA keys in the store.
resource "random_bytes" "kek" {
  length = 32
}

# Lets the operator call the admin API before any `meshfed token create`; only its hash leaves Terraform state.
resource "random_password" "bootstrap_admin_token" {
  length  = 48
  special = false
}

locals {
  secrets = {
    kek        = "meshfed key-encryption key (MESHFED_KEK)"
    redis-auth = "meshfed store AUTH string (MESHFED_REDIS_AUTH)"
    api-tokens = "meshfed API token hashes (api.tokens)"
  }
}

resource "google_secret_manager_secret" "meshfed" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = "${var.name}-${each.key}"
  labels    = local.labels

  annotations = {
    purpose = each.value
  }

  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }
}

resource "google_secret_manager_secret_version" "kek" {
  secret      = google_secret_manager_secret.meshfed["kek"].id
  secret_data = random_bytes.kek.base64
}

resource "google_secret_manager_secret_version" "redis_auth" {
  secret      = google_secret_manager_secret.meshfed["redis-auth"].id
  secret_data = google_redis_instance.store.auth_string
}

resource "google_secret_manager_secret_version" "api_tokens" {
  secret = google_secret_manager_secret.meshfed["api-tokens"].id
  secret_data = jsonencode(concat(module.config.api_tokens, [{
    name   = "bootstrap-admin"
    role   = "admin"
    sha256 = sha256(random_password.bootstrap_admin_token.result)
  }]))
}
