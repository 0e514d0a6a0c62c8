# A bring-your-own cluster module for the tests: provider-free (terraform_data only), follows
# the contract, and proves that the credentials Secret reaches terraform's environment: a
# local-exec provisioner hashes $CAPC_TEST_TOKEN into <hash_dir>/<cluster_name>.sha256 and the
# failure_domains output echoes that hash (never the value) into the CustomCluster's status.
variable "cluster_name" { type = string }
variable "region" { type = string }
variable "tags" {
  type    = map(string)
  default = {}
}
variable "hash_dir" {
  description = "Directory the token hash is written to (spec.variables)."
  type        = string
}

locals {
  hash_file = "${var.hash_dir}/${var.cluster_name}.sha256"
}

resource "terraform_data" "endpoint" {
  input = { host = "${var.cluster_name}.byo.example", tags = var.tags }
  provisioner "local-exec" {
    command = "printf '%s' \"$CAPC_TEST_TOKEN\" | sha256sum | cut -d' ' -f1 > '${local.hash_file}'"
  }
}

output "control_plane_endpoint" {
  value = { host = terraform_data.endpoint.output.host, port = 6443 }
}

output "failure_domains" {
  # Evaluated after the provisioner ran (the reference to terraform_data orders it).
  value = [{
    name          = "byo-a"
    control_plane = true
    attributes = {
      token_sha256 = terraform_data.endpoint.id != "" && fileexists(local.hash_file) ? trimspace(file(local.hash_file)) : ""
    }
  }]
}
