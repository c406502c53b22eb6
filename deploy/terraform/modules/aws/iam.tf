data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "meshfed" {
  name_prefix        = "${var.name}-"
  description        = "meshfed ${var.name}: read-only discovery, its own secrets, its own logs"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

resource "aws_iam_instance_profile" "meshfed" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.meshfed.name
  tags        = local.tags
}

# What providers/aws.py calls, and nothing else. These Describe/List calls support no
# resource-level permissions, so "*" is the only resource AWS accepts for them.
data "aws_iam_policy_document" "discovery" {
  statement {
    sid = "Ec2Read"
    actions = [
      "ec2:DescribeInstances",
      "ec2:DescribeRegions",
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeTags",
    ]
    resources = ["*"]
  }

  statement {
    sid = "LoadBalancerRead"
    actions = [
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
    ]
    resources = ["*"]
  }

  statement {
    sid = "CloudMapRead"
    actions = [
      "servicediscovery:ListNamespaces",
      "servicediscovery:ListServices",
      "servicediscovery:ListInstances",
      "servicediscovery:ListTagsForResource",
      "servicediscovery:GetInstancesHealthStatus",
      "servicediscovery:DiscoverInstances",
    ]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "own_secrets" {
  statement {
    sid     = "ReadOwnSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.kek.arn,
      aws_secretsmanager_secret.redis_auth.arn,
      aws_secretsmanager_secret.api_tokens.arn,
    ]
  }

  statement {
    sid       = "DecryptOwnSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.meshfed.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

# Shipping logs is the one write the replicas need, confined to their own log group.
data "aws_iam_policy_document" "own_logs" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.meshfed.arn}:*"]
  }
}

resource "aws_iam_role_policy" "discovery" {
  name   = "meshfed-discovery"
  role   = aws_iam_role.meshfed.id
  policy = data.aws_iam_policy_document.discovery.json
}

resource "aws_iam_role_policy" "own_secrets" {
  name   = "meshfed-secrets"
  role   = aws_iam_role.meshfed.id
  policy = data.aws_iam_policy_document.own_secrets.json
}

resource "aws_iam_role_policy" "own_logs" {
  name   = "meshfed-logs"
  role   = aws_iam_role.meshfed.id
  policy = data.aws_iam_policy_document.own_logs.json
}

resource "aws_iam_role_policy_attachment" "session_manager" {
  count = var.enable_session_manager ? 1 : 0

  role       = aws_iam_role.meshfed.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_cloudwatch_log_group" "meshfed" {
  name              = "/meshfed/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.meshfed.arn
  tags              = local.tags
}
