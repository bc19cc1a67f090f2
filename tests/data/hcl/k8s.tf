resource "kubernetes_cluster_role_binding_v1" "ops" {
  metadata {
    name = "ops"
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = "cluster-admin"
  }
  subject {
    kind      = "User"
    name      = "peggy@example.com"
    api_group = "rbac.authorization.k8s.io"
  }
  subject {
    kind      = "ServiceAccount"
    name      = "deployer"
    namespace = "ci"
  }
}

resource "github_team_membership" "t" {
  for_each = toset(["trent", "victor"])
  team_id  = github_team.platform.id
  username = each.value
  role     = "member"
}

resource "okta_app_user" "walter" {
  app_id   = okta_app_saml.app.id
  user_id  = okta_user.walter.id
  username = "walter"
  password = "Wq2#unreal-Pass-000"
}
