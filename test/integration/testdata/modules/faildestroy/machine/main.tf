# A machine module whose destroy fails until the credentials Secret provides ALLOW_DESTROY, so
# tests can prove a failing destroy keeps the finalizer and retries.
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

resource "terraform_data" "instance" {
  input = { name = var.machine_name }

  provisioner "local-exec" {
    when    = destroy
    command = "test -n \"$ALLOW_DESTROY\" || { echo 'refusing to destroy: ALLOW_DESTROY unset' >&2; exit 1; }"
  }
}

output "instance_id" { value = "i-faildestroy" }
output "instance_state" { value = "running" }
output "provider_id" { value = "custom://test/i-${substr(sha1(var.machine_name), 0, 8)}" }
output "addresses" { value = [{ type = "InternalIP", address = "10.9.9.9" }] }
output "failure_domain" { value = "" }
