/* A module the way people write them: locals, dynamic blocks, heredoc policies,
   for expressions, templates, comments of every kind. */
terraform {
  required_version = ">= 1.5"
  backend "s3" {
    bucket = "acme-tfstate"
    key    = "iam/terraform.tfstate"
  }
}

provider "aws" {
  region     = var.region
  access_key = "AKIAQYLPMN5HHHFPZAM2" # fake
  secret_key = "Fake/Secret+Value0123456789abcdefABCDEF"
}

locals {
  admins = ["carol", "dave-gh", var.extra_admin]
  tags   = merge(var.tags, { owner = "erin@example.com", team = "platform" })
  names  = [for u in local.admins : upper(u) if u != ""]
  greeting = "hello ${var.name}!"
  neg      = -3
  ratio    = 0.25
  on       = true
  nothing  = null
}

resource "aws_iam_user" "carol" {
  name          = "carol"
  path          = "/people/"
  force_destroy = true
  tags          = local.tags
}

resource "aws_iam_access_key" "carol" {
  user    = aws_iam_user.carol.name
  pgp_key = "keybase:carol"
}

resource aws_iam_user_login_profile frank {
  user = "frank"
}

resource "aws_iam_group_membership" "admins" {
  name  = "admins"
  users = ["carol", "grace@example.com", aws_iam_user.carol.name]
  group = "admins"
}

resource "aws_iam_user_policy" "inline" {
  name   = "inline"
  user   = "heidi"
  policy = <<-EOT
    {
      "Version": "2012-10-17",
      "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    }
  EOT
}

resource "aws_iam_role" "ci" {
  name = "ci"
  assume_role_policy = <<EOF
{
  "Statement": [{
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:user/ivan"},
    "Action": "sts:AssumeRole"
  }]
}
EOF
}

resource "aws_security_group" "web" {
  name = "web"
  dynamic "ingress" {
    for_each = var.ports
    content {
      from_port = ingress.value
      to_port   = ingress.value
      protocol  = "tcp"
    }
  }
  egress {
    from_port = 0
    to_port   = 0
    protocol  = "-1"
  }
}

resource "github_repository_collaborator" "judy" {
  repository = "infra"
  username   = "judy-gh"
  permission = var.write ? "push" : "pull"
}

resource "gitlab_project_membership" "k" {
  project      = "42"
  user_id      = 1234
  access_level = "maintainer"
}

resource "okta_user" "mallory" {
  first_name = "Mallory"
  last_name  = "M"
  login      = "mallory@example.com"
  email      = "mallory@example.com"
}

data "aws_iam_user" "lookup" {
  user_name = "oscar"
}

// a trailing comment
variable "api_token" {
  type      = string
  sensitive = true
  default   = "tok-9f8e7d6c5b4a39281706"
}

output "carol_arn" {
  value = aws_iam_user.carol.arn
}
