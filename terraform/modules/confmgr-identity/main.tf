# The IAM role of ConfMgr's pods, given to them through EKS Pod Identity: it may wrap and
# unwrap the root key with this deployment's encryption context, check the key, and log in
# to the database as db_user with an IAM token. Nothing else.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

# Only EKS Pod Identity may assume the role, only for this account's cluster, namespace and
# service account (the session tags Pod Identity sets), so another association in the
# account cannot borrow it.
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "EksPodIdentityForConfMgrServiceAccount"
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/eks-cluster-name"
      values   = [var.cluster_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = [var.namespace]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = [var.service_account]
    }
  }
}

resource "aws_iam_role" "confmgr" {
  name                 = var.role_name
  description          = "ConfMgr server pods (${var.namespace}/${var.service_account} on ${var.cluster_name})"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "confmgr" {
  statement {
    sid       = "WrapAndUnwrapTheRootKey"
    actions   = ["kms:Encrypt", "kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:confmgr:deployment"
      values   = [var.kms_context]
    }
  }

  statement {
    sid       = "CheckTheKeyAtInitAndMigration"
    actions   = ["kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "LogInToTheDatabaseWithIamTokens"
    actions   = ["rds-db:connect"]
    resources = ["arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:dbuser:${var.db_resource_id}/${var.db_user}"]
  }
}

resource "aws_iam_role_policy" "confmgr" {
  name   = "confmgr-server"
  role   = aws_iam_role.confmgr.id
  policy = data.aws_iam_policy_document.confmgr.json
}

resource "aws_eks_pod_identity_association" "confmgr" {
  count           = var.create_pod_identity_association ? 1 : 0
  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.confmgr.arn
}
