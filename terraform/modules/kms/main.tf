# The KMS key that wraps ConfMgr's root key (doc/keys.md, "AWS KMS"). The key policy follows
# doc/keys.md: the account administers the key through IAM but the key policy grants no
# cryptographic use to anyone except ConfMgr's role, and that role only with this
# deployment's encryption context.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "key" {
  statement {
    sid = "AccountAdministersTheKeyThroughIam"
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
      "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
      "kms:TagResource", "kms:UntagResource",
      "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
    ]
    resources = ["*"]
  }

  statement {
    sid = "ConfMgrWrapsAndUnwrapsItsRootKeyForOneDeployment"
    principals {
      type        = "AWS"
      identifiers = [var.confmgr_role_arn]
    }
    actions   = ["kms:Encrypt", "kms:Decrypt"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:confmgr:deployment"
      values   = [var.deployment_context]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = ["confmgr:deployment"]
    }
  }

  statement {
    sid = "ConfMgrChecksTheKey"
    principals {
      type        = "AWS"
      identifiers = [var.confmgr_role_arn]
    }
    actions   = ["kms:DescribeKey"]
    resources = ["*"]
  }
}

resource "aws_kms_key" "root_key_wrap" {
  description              = "Wraps ConfMgr's root key (${var.deployment_context})"
  key_usage                = "ENCRYPT_DECRYPT"
  customer_master_key_spec = "SYMMETRIC_DEFAULT"
  enable_key_rotation      = true
  deletion_window_in_days  = var.deletion_window_in_days
  policy                   = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "root_key_wrap" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.root_key_wrap.key_id
}
