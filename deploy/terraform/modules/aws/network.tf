locals {
  ingress_cidrs = {
    api     = var.api_allowed_cidrs
    bundle  = var.bundle_allowed_cidrs
    gateway = var.gateway_allowed_cidrs
  }
}

data "aws_subnet" "selected" {
  for_each = toset(var.subnet_ids)

  id = each.value
}

resource "aws_security_group" "meshfed" {
  name_prefix = "${var.name}-"
  description = "meshfed replicas: API, bundle endpoint and gateway from the allowed ranges only"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "meshfed" {
  for_each = {
    for pair in flatten([
      for listener, port in module.config.listeners : [
        for cidr in local.ingress_cidrs[listener] : { key = "${listener}-${cidr}", port = port, cidr = cidr, listener = listener }
      ]
    ]) : pair.key => pair
  }

  security_group_id = aws_security_group.meshfed.id
  description       = "meshfed ${each.value.listener} from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

# The NLB preserves client addresses, so only its health checks come from its own subnets.
resource "aws_vpc_security_group_ingress_rule" "health_checks" {
  for_each = data.aws_subnet.selected

  security_group_id = aws_security_group.meshfed.id
  description       = "NLB health checks of /readyz from ${each.value.cidr_block}"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = each.value.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = toset(var.egress_https_cidrs)

  security_group_id = aws_security_group.meshfed.id
  description       = "HTTPS to AWS APIs, PyPI and federated bundle endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "bundle_peers" {
  for_each = toset(var.bundle_allowed_cidrs)

  security_group_id = aws_security_group.meshfed.id
  description       = "Bundle endpoints of the federated deployments"
  ip_protocol       = "tcp"
  from_port         = var.bundle_port
  to_port           = var.bundle_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "gateway_peers" {
  for_each = var.gateway_cluster == "" ? toset([]) : toset(var.gateway_allowed_cidrs)

  security_group_id = aws_security_group.meshfed.id
  description       = "East-west traffic to the peer clusters' gateways"
  ip_protocol       = "tcp"
  from_port         = var.gateway_port
  to_port           = var.gateway_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "redis" {
  security_group_id            = aws_security_group.meshfed.id
  description                  = "The Redis store"
  ip_protocol                  = "tcp"
  from_port                    = local.redis_port
  to_port                      = local.redis_port
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_lb" "meshfed" {
  #checkov:skip=CKV_AWS_91:an NLB writes access logs only for TLS listeners; these are TCP passthrough (meshfed terminates TLS itself)
  name                             = var.name
  internal                         = true
  load_balancer_type               = "network"
  subnets                          = var.subnet_ids
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = true
  tags                             = local.tags
}

resource "aws_lb_target_group" "meshfed" {
  for_each = module.config.listeners

  name_prefix = substr(each.key, 0, 6)
  port        = each.value
  protocol    = "TCP"
  vpc_id      = var.vpc_id
  target_type = "instance"
  tags        = local.tags

  # Every listener follows the service's readiness: a replica that is not ready serves nothing.
  health_check {
    protocol            = "HTTP"
    port                = tostring(var.api_port)
    path                = "/readyz"
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "meshfed" {
  for_each = module.config.listeners

  load_balancer_arn = aws_lb.meshfed.arn
  port              = each.value
  protocol          = "TCP"
  tags              = local.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.meshfed[each.key].arn
  }
}
