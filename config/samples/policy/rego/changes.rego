# What a reviewer should notice in a plan: it never blocks.
package main

import rego.v1

warn contains msg if {
	some rc in input.resource_changes
	"delete" in rc.change.actions
	msg := sprintf("%s is deleted or replaced", [rc.address])
}
