"""AWS: IAM users, access keys, roles and their trust, across accounts (boto3)."""
