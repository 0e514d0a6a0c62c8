# A machine module whose create takes long enough to kill its runner mid-apply. Each create
# appends "start" and, once finished, "done" to var.marker: a file the test reads to count
# creations that completed (duplicates) and ones that were cut short.
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
variable "marker" { type = string }
variable "seconds" {
  type    = number
  default = 15
}

resource "terraform_data" "instance" {
  input = { name = var.machine_name }

  provisioner "local-exec" {
    command = "echo start >> ${var.marker} && sleep ${var.seconds} && echo done >> ${var.marker}"
  }
}

output "instance_id" { value = "i-slow" }
output "instance_state" { value = "running" }
output "provider_id" { value = "custom://test/i-${substr(sha1(var.machine_name), 0, 8)}" }
output "addresses" { value = [{ type = "InternalIP", address = "10.9.9.8" }] }
output "failure_domain" { value = "" }
