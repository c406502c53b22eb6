data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ssm_parameter" "ami" {
  name = var.ami_ssm_parameter
}

locals {
  redis_port = 6379

  tags = merge(var.tags, { "meshfed-deployment" = var.name })
}

resource "aws_launch_template" "meshfed" {
  name_prefix   = "${var.name}-"
  image_id      = data.aws_ssm_parameter.ami.value
  instance_type = var.instance_type
  user_data = base64gzip(templatefile("${path.module}/templates/user-data.sh.tftpl", {
    meshfed_version   = module.config.meshfed_version
    meshfed_config    = module.config.meshfed_config
    bundle_dir        = module.config.bundle_dir
    bootstrap_bundles = module.config.bootstrap_bundles
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
