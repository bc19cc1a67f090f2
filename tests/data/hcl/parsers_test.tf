variable "db_password" {
  type    = string
  default = "Zq8vN3xT7pL2wK9m"
}

variable "region" {
  default = "eu-west-1"
}

resource "aws_iam_user" "alice" {
  name = "alice"
  tags = {
    email      = "alice@example.com"
    git_commit = "0123456789abcdef0123456789abcdef01234567"
  }
}

resource "github_membership" "m" {
  username = "alice-gh"
  role     = "member"
}

resource "aws_iam_role" "deploy" {
  name               = "deploy"
  assume_role_policy = jsonencode({
    Statement = [{ Principal = { AWS = "arn:aws:iam::123456789012:user/alice" } }]
  })
}
