# Demo estate: Terraform that still names people who left.
resource "aws_iam_user" "alice" {
  name = "alice"
  tags = {
    email = "alice@example.com"
  }
}

resource "aws_iam_user" "bob" {
  name = "bob"
}

resource "github_membership" "alice" {
  username = "alice-gh"
  role     = "admin"
}

resource "github_team_membership" "platform_dave" {
  team_id  = "platform"
  username = "dave-gh"
  role     = "member"
}

resource "aws_iam_role" "deploy" {
  name = "deploy-role"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "arn:aws:iam::123456789012:user/alice" }
    }]
  })
}

variable "db_password" {
  description = "database password"
  default     = "demo-Pa55word-not-real-7731"
}
