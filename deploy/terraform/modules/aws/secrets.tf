resource "aws_kms_key" "meshfed" {
  description             = "meshfed ${var.name}: secrets, store at rest, EBS and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "meshfed" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.meshfed.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" means this key; the account root keeps administration so the key cannot be orphaned
  #checkov:skip=CKV_AWS_111:a key policy's Resource "*" means this key; access is granted to the account, then narrowed by IAM
  #checkov:skip=CKV_AWS_356:a key policy's Resource "*" means this key only
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypts"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/meshfed/${var.name}"]
    }
  }

  statement {
    sid       = "AutoScalingUsesForEbs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"]
    }
  }
}

# 32 random bytes, base64: the key-encryption key that seals the CA keys in the store.
resource "random_bytes" "kek" {
  length = 32
}

# Alphanumeric so it can sit in the store URL without escaping.
resource "random_password" "redis_auth" {
  length  = 64
  special = false
}

# Lets the operator call the admin API before any `meshfed token create`; only its hash leaves Terraform state.
resource "random_password" "bootstrap_admin_token" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "kek" {
  #checkov:skip=CKV2_AWS_57:the KEK seals stored CA keys; rotating it in place would make them unreadable (rotate with `meshfed trust rotate` instead)
  name_prefix = "${var.name}/kek-"
  description = "meshfed key-encryption key (MESHFED_KEK)"
  kms_key_id  = aws_kms_key.meshfed.arn
  tags        = local.tags
}

resource "aws_secretsmanager_secret_version" "kek" {
  secret_id     = aws_secretsmanager_secret.kek.id
  secret_string = random_bytes.kek.base64
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:ElastiCache AUTH rotation is a two-step ROTATE/SET change on the replication group, done by Terraform (taint random_password.redis_auth), not by a Lambda
  name_prefix = "${var.name}/redis-auth-"
  description = "meshfed store AUTH token (MESHFED_REDIS_AUTH)"
  kms_key_id  = aws_kms_key.meshfed.arn
  tags        = local.tags
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = random_password.redis_auth.result
}

resource "aws_secretsmanager_secret" "api_tokens" {
  #checkov:skip=CKV2_AWS_57:holds SHA-256 hashes of API tokens; a token is rotated by issuing a new one, not by rewriting its hash
  name_prefix = "${var.name}/api-tokens-"
  description = "meshfed API token hashes (api.tokens), merged into the config at start"
  kms_key_id  = aws_kms_key.meshfed.arn
  tags        = local.tags
}

resource "aws_secretsmanager_secret_version" "api_tokens" {
  secret_id = aws_secretsmanager_secret.api_tokens.id
  secret_string = jsonencode(concat(module.config.api_tokens, [{
    name   = "bootstrap-admin"
    role   = "admin"
    sha256 = sha256(random_password.bootstrap_admin_token.result)
  }]))
}
