# The instance types a platform team lets its tenants run. A conftest policy: it runs unchanged
# with `conftest test plan.json` on `terraform show -json` output, and the provider judges every
# plan with it before the plan may be applied.
package main

import rego.v1

allowed_instance_types := {"t3.medium", "t3.large", "m5.large", "m5.xlarge"}

# instance_type as the aws and fakecloud modules set it, or as the simulated module records it
# in its terraform_data input.
instance_type(after) := after.instance_type

instance_type(after) := after.input.instance_type if not after.instance_type

deny contains msg if {
	some rc in input.resource_changes
	some action in rc.change.actions
	action in {"create", "update"}
	t := instance_type(rc.change.after)
	not t in allowed_instance_types
	msg := sprintf("%s: instance type %s is not allowed (allowed: %s)", [rc.address, t, concat(", ", sort(allowed_instance_types))])
}
