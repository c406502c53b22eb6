data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

locals {
  redis_port = 6379
  bundle_dir = "/etc/meshfed/bundles"

  # MESHFED_REDIS_AUTH stays a reference: meshfed expands it from the environment at load,
  # so the AUTH token never appears in user data or in the rendered config.
  store_url = "rediss://:$${MESHFED_REDIS_AUTH}@${aws_elasticache_replication_group.store.primary_endpoint_address}:${local.redis_port}/0"

  discovery_provider = {
    name             = var.provider_name
    kind             = "aws"
    regions          = var.discovery_regions
    refresh_interval = var.refresh_interval
  }

  config_values = {
    federation_name  = var.federation_name
    trust_domain     = var.trust_domain
    store_url        = local.store_url
    api_listen       = "0.0.0.0:${var.api_port}"
    bundle_listen    = "0.0.0.0:${var.bundle_port}"
    bundle_dir       = local.bundle_dir
    default_location = var.default_location
    default_action   = var.default_action
    svid_ttl         = var.svid_ttl
    clusters         = var.clusters
    providers        = [local.discovery_provider]
    services         = var.services
    policies         = var.policies
    federates_with   = var.federates_with
  }

  meshfed_config = templatefile("${path.module}/templates/meshfed.yaml.tftpl", local.config_values)

  bootstrap_bundles = { for p in var.federates_with : p.trust_domain => p.bootstrap_bundle if p.bootstrap_bundle != "" }

  tags = merge(var.tags, { "meshfed-deployment" = var.name })
}

resource "aws_launch_template" "meshfed" {
  name_prefix   = "${var.name}-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  user_data = base64gzip(templatefile("${path.module}/templates/user-data.sh.tftpl", {
    meshfed_version   = var.meshfed_version
    meshfed_config    = local.meshfed_config
    bundle_dir        = local.bundle_dir
    bootstrap_bundles = local.bootstrap_bundles
    region            = data.aws_region.current.name
    kek_secret_arn    = aws_secretsmanager_secret.kek.arn
    redis_secret_arn  = aws_secretsmanager_secret.redis_auth.arn
    tokens_secret_arn = aws_secretsmanager_secret.api_tokens.arn
    log_group         = aws_cloudwatch_log_group.meshfed.name
    gateway_cluster   = var.gateway_cluster
    gateway_port      = var.gateway_port
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.meshfed.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = 20
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = aws_kms_key.meshfed.arn
      delete_on_termination = true
    }
  }

  network_interfaces {
    associate_public_ip_address = false
    security_groups             = [aws_security_group.meshfed.id]
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = var.name })
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = var.gateway_cluster == "" || contains([for c in var.clusters : c.name], var.gateway_cluster)
      error_message = "gateway_cluster must be empty or one of clusters[].name."
    }

    precondition {
      condition     = var.min_size <= var.max_size
      error_message = "min_size must not exceed max_size."
    }
  }
}

resource "aws_autoscaling_group" "meshfed" {
  name                      = var.name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.subnet_ids
  target_group_arns         = [for tg in aws_lb_target_group.meshfed : tg.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.meshfed.id
    version = aws_launch_template.meshfed.latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = local.tags

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }
}
