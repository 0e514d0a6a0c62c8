# A machine module whose apply takes a few seconds, so tests can watch what happens while a run
# is in flight.
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
    command = "sleep 4"
  }
}

output "instance_id" { value = "i-slow" }
output "instance_state" { value = "running" }
output "provider_id" { value = "custom://test/i-${substr(sha1(var.machine_name), 0, 8)}" }
output "addresses" { value = [{ type = "InternalIP", address = "10.9.9.8" }] }
output "failure_domain" { value = "" }
