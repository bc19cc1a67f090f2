region      = "eu-west-1"
extra_admin = "sybil"
db_password = "Vt6pQ8rZ2mX4nB7k"
ports       = [80, 443]
tags = {
  owner = "trudy@example.com"
}
