# A bring-your-own machine module for the tests: provider-free, follows the contract, and takes
# one extra variable (disk_gb, declared number) from spec.variables.
variable "cluster_name" { type = string }
variable "machine_name" { type = string }
variable "user_data" {
  type      = string
  default   = ""
  sensitive = true
}
variable "cluster" {
  type    = any
  default = null
}
variable "disk_gb" { type = number }

resource "terraform_data" "vm" {
  input = {
    id       = "byo-${substr(sha1("${var.cluster_name}/${var.machine_name}"), 0, 12)}"
    disk_gb  = var.disk_gb
    ud_bytes = length(nonsensitive(sha256(var.user_data)))
  }
}

output "provider_id" { value = "byo://${terraform_data.vm.output.id}" }
output "instance_id" { value = terraform_data.vm.output.id }
output "instance_state" { value = "running" }
output "addresses" { value = [{ type = "InternalIP", address = "10.9.0.${var.disk_gb}" }] }
output "failure_domain" { value = "byo-a" }
