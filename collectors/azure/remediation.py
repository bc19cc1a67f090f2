"""What ``residual plan`` prints for each Azure finding (Azure CLI; ids shell-quoted).
Builders return ``(phase, action, command, note)`` like collectors/entra/remediation.py."""

from __future__ import annotations

import json
from typing import Any

from collectors.remediation import q



def delete_assignment(f: Any, objs: Any) -> tuple[int, str, str, str]:
    return (3, f"delete the role assignment {f.object_name}",
            f"az role assignment delete --ids {q(f.object_id)}",
            "for a service principal the leaver owned: give it a new owner and rotate its secrets too"
            if "owned" in str(f.evidence.get("how")) else "")


def remove_eligibility(f: Any, objs: Any) -> tuple[int, str, str, str]:
    scope = str(f.evidence.get("scope") or "")
    role = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{f.evidence.get('role_definition_id')}"
    body = {"properties": {"principalId": f.evidence.get("principal_id"), "roleDefinitionId": role,
                           "requestType": "AdminRemove", "justification": "offboarding (residual plan)"}}
    # the request name is a new GUID: the only unquoted part is the $(uuidgen) itself
    url = (q(f"https://management.azure.com{scope}/providers/Microsoft.Authorization/"
             "roleEligibilityScheduleRequests/") + '"$(uuidgen)"' + q("?api-version=2020-10-01"))
    return (3, f"remove the PIM-eligible {f.evidence.get('role')} assignment",
            f"az rest --method PUT --url {url} --body {q(json.dumps(body))}", "")


RULE_STEPS = {
    "azure.role_assignment_of_leaver": delete_assignment,
    "azure.pim_eligible_leaver": remove_eligibility,
}
