"""Operation mixes: which calls each kind of client makes, and how often.

A ``_Mix`` is a tuple of ("service.Name", weight) pairs naming rows of ``operations._OPS``; sessions draw
their calls from one.
"""

from __future__ import annotations

_Mix = tuple[tuple[str, float], ...]
_APP_MIX: _Mix = (("s3.GetObject", 24), ("s3.PutObject", 8), ("s3.HeadObject", 5), ("kms.Decrypt", 8),
                  ("kms.Decrypt@s3", 5), ("kms.GenerateDataKey", 3), ("ssm.UpdateInstanceInformation", 16),
                  ("ssm.UpdateInstanceAssociationStatus", 4), ("ssm.PutInventory", 3),
                  ("ssm.GetParameter", 6), ("ssm.GetParametersByPath", 2), ("secretsmanager.GetSecretValue", 5),
                  ("ec2.DescribeTags", 3), ("ec2.DescribeInstances", 2), ("sts.GetCallerIdentity", 3),
                  ("lambda.Invoke", 5))
_LAMBDA_MIX: _Mix = (("s3.GetObject", 22), ("s3.PutObject", 12), ("s3.ListObjects", 4), ("kms.Decrypt", 14),
                     ("kms.GenerateDataKey", 6), ("secretsmanager.GetSecretValue", 14), ("ssm.GetParameter", 18),
                     ("secretsmanager.PutSecretValue", 2),
                     ("sts.GetCallerIdentity", 3))
_INVENTORY_MIX: _Mix = (
    ("ec2.DescribeInstances", 6), ("ec2.DescribeSecurityGroups", 6), ("ec2.DescribeVpcs", 4),
    ("ec2.DescribeSubnets", 4),
    ("ec2.DescribeVolumes", 4), ("ec2.DescribeSnapshots", 3), ("ec2.DescribeNetworkInterfaces", 5),
    ("ec2.DescribeRegions", 1), ("iam.ListRoles", 3), ("iam.ListUsers", 2), ("iam.GetRole", 5),
    ("iam.ListAttachedRolePolicies", 5), ("iam.ListRolePolicies", 4), ("iam.ListPolicies", 2),
    ("iam.GetAccountSummary", 1), ("iam.ListAccessKeys", 2), ("s3.GetBucketLocation", 3), ("s3.GetBucketPolicy", 3),
    ("s3.GetBucketAcl", 3), ("s3.GetBucketEncryption", 2), ("s3.GetBucketVersioning", 2),
    ("s3.GetBucketPublicAccessBlock", 2), ("kms.DescribeKey", 2), ("kms.GetKeyRotationStatus", 2), ("kms.ListKeys", 1),
    ("kms.ListAliases", 1), ("lambda.ListFunctions20150331", 2), ("lambda.GetFunctionConfiguration20150331v2", 2),
    ("cloudtrail.DescribeTrails", 1), ("cloudtrail.GetTrailStatus", 1), ("cloudtrail.GetEventSelectors", 1),
    ("secretsmanager.ListSecrets", 1), ("secretsmanager.DescribeSecret", 2), ("ssm.DescribeInstanceInformation", 2))
_AUDIT_MIX: _Mix = _INVENTORY_MIX + (("sts.GetCallerIdentity", 2), ("s3.ListBuckets", 2))
_ADMIN_MIX: _Mix = (
    ("ec2.DescribeInstances", 10), ("ec2.DescribeSecurityGroups", 4), ("ec2.DescribeVpcs", 2), ("ec2.DescribeTags", 2),
    ("s3.ListBuckets", 5), ("s3.GetBucketPolicy", 2), ("s3.GetBucketAcl", 1), ("s3.ListObjects", 4),
    ("s3.GetObject", 5), ("s3.PutObject", 2), ("iam.ListRoles", 3), ("iam.GetRole", 3), ("iam.ListUsers", 2),
    ("iam.ListAttachedRolePolicies", 2),
    ("lambda.ListFunctions20150331", 3), ("lambda.GetFunction20150331v2", 3), ("cloudtrail.LookupEvents", 4),
    ("ssm.GetParameter", 2), ("ssm.DescribeInstanceInformation", 2), ("secretsmanager.ListSecrets", 2),
    ("secretsmanager.DescribeSecret", 1), ("kms.ListKeys", 1), ("kms.ListAliases", 1), ("sts.GetCallerIdentity", 2),
    ("ec2.CreateTags", 3), ("ec2.StopInstances", 1), ("ec2.StartInstances", 1), ("ssm.PutParameter", 3),
    ("lambda.UpdateFunctionConfiguration20150331v2", 2), ("iam.TagRole", 1), ("iam.PutRolePolicy", 1),
    ("s3.PutBucketTagging", 1))
_READONLY_MIX: _Mix = tuple((name, w) for name, w in _ADMIN_MIX
                            if not name.split(".")[1].startswith(("Create", "Stop", "Start", "Put", "Update", "Tag")))
_CI_MIX: _Mix = (("sts.GetCallerIdentity", 8), ("s3.PutObject", 22), ("s3.ListObjects", 5), ("s3.HeadObject", 6),
                 ("s3.GetObject", 6), ("lambda.GetFunction20150331v2", 10), ("lambda.UpdateFunctionCode20150331v2", 9),
                 ("lambda.UpdateFunctionConfiguration20150331v2", 3), ("lambda.GetFunctionConfiguration20150331v2", 5),
                 ("ssm.GetParameter", 9), ("ssm.PutParameter", 3), ("ec2.DescribeInstances", 4), ("iam.GetRole", 4),
                 ("kms.GenerateDataKey", 3))
_DEPLOY_MIX: _Mix = _CI_MIX + (("ec2.CreateTags", 4), ("iam.TagRole", 1), ("iam.PutRolePolicy", 1),
                               ("ec2.DescribeSecurityGroups", 3), ("cloudtrail.DescribeTrails", 1))
_ORG_MIX: _Mix = (("organizations.DescribeOrganization", 3), ("organizations.ListAccounts", 6),
                  ("iam.ListRoles", 3), ("iam.GetRole", 3), ("cloudtrail.DescribeTrails", 2),
                  ("cloudtrail.GetTrailStatus", 2), ("sts.GetCallerIdentity", 2), ("s3.ListBuckets", 2))
_DATA_MIX: _Mix = (("s3.GetObject", 50), ("s3.PutObject", 25), ("s3.ListObjects", 10), ("kms.Decrypt", 5),
                   ("sts.GetCallerIdentity", 2))
_MONITORING_MIX: _Mix = (("ec2.DescribeInstances", 8), ("ec2.DescribeVolumes", 3), ("ec2.DescribeNetworkInterfaces", 2),
                         ("lambda.ListFunctions20150331", 4), ("s3.ListBuckets", 3), ("s3.GetBucketLocation", 3),
                         ("cloudtrail.DescribeTrails", 1), ("kms.ListKeys", 1), ("ssm.DescribeInstanceInformation", 2),
                         ("sts.GetCallerIdentity", 1))
_CONSOLE_MIX: _Mix = (("iam.GetAccountSummary", 3), ("iam.ListUsers", 3), ("iam.ListRoles", 2),
                      ("organizations.DescribeOrganization", 2), ("organizations.ListAccounts", 2),
                      ("cloudtrail.DescribeTrails", 1), ("ec2.DescribeRegions", 1), ("s3.ListBuckets", 2))
_INVOKER_MIX: _Mix = (("lambda.Invoke", 1),)
_INTERNAL_MIX: _Mix = (("kms.RotateKey", 1),)
