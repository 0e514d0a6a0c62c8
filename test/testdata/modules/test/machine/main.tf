# A machine module for suites that watch a run in flight, kill one, or fail a destroy:
# - each create sleeps var.seconds; with var.marker set it appends "start" before and "done"
#   after to that file, so a test counts creations that completed and ones cut short;
# - with var.guard_destroy its destroy fails until the credentials Secret provides ALLOW_DESTROY.
terraform {
  required_version = ">= 1.5.0"
}

variable "cluster_name" { type = string }
variable "machine_name" { type = string }
variable "instance_type" { type = string }
variable "image_id" { type = string }
variable "cluster" {
  type    = any
  default = null
}
variable "seconds" {
  type    = number
  default = 0
}
variable "marker" {
  type    = string
  default = ""
}
variable "guard_destroy" {
  type    = bool
  default = false
}

resource "terraform_data" "instance" {
  # A destroy provisioner reads only self: the guard travels in the input.
  input = { name = var.machine_name, guard = var.guard_destroy }

  provisioner "local-exec" {
    command = (var.marker == "" ? "sleep ${var.seconds}" :
    "echo start >> ${var.marker} && sleep ${var.seconds} && echo done >> ${var.marker}")
  }

  provisioner "local-exec" {
    when    = destroy
    command = self.input.guard ? "test -n \"$ALLOW_DESTROY\" || { echo 'refusing to destroy: ALLOW_DESTROY unset' >&2; exit 1; }" : "true"
  }
}

output "instance_id" { value = "i-${substr(sha1(var.machine_name), 0, 8)}" }
output "instance_state" { value = "running" }
output "provider_id" { value = "custom://test/i-${substr(sha1(var.machine_name), 0, 8)}" }
output "addresses" { value = [{ type = "InternalIP", address = "10.9.9.8" }] }
output "failure_domain" { value = "" }

# Outputs beyond the contract, for the outputs Secret: a small one, a sensitive one and one too
# large for status.
output "team" { value = "infra-${var.machine_name}" }
output "token" {
  value     = "s3cr3t-${sha1(var.machine_name)}"
  sensitive = true
}
output "inventory" { value = [for i in range(200) : "host-${i}.example"] }
