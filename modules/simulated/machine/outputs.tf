output "instance_id" {
  description = "Instance id (i-<17 hex>)."
  value       = terraform_data.instance.output.id
}

output "instance_state" {
  description = "Instance state (\"running\" unless var.simulated_instance_state says otherwise)."
  value       = terraform_data.instance.output.state
}

output "provider_id" {
  description = "custom://<region>/<instance_id>."
  value       = "custom://${local.region}/${terraform_data.instance.output.id}"
}

output "addresses" {
  description = "list(object({type = string, address = string})): InternalIP and InternalDNS."
  value = [
    { type = "InternalIP", address = terraform_data.instance.output.private_ip },
    { type = "InternalDNS", address = "ip-${replace(terraform_data.instance.output.private_ip, ".", "-")}.${local.region}.compute.internal" },
  ]
}

output "failure_domain" {
  description = "Failure domain the instance landed in (\"\" when unknown)."
  value       = local.failure_zone
}

output "health" {
  description = "object({status, message}): healthy while the simulated instance is running (see var.simulated_instance_state), unhealthy otherwise."
  value = {
    status  = terraform_data.instance.output.state == "running" ? "healthy" : "unhealthy"
    message = "simulated instance ${terraform_data.instance.output.id} is ${terraform_data.instance.output.state}"
  }
}
