output "instance_id" {
  description = "Instance id (i-<17 hex>), assigned by the fake cloud."
  value       = fakecloud_instance.this.id
}

output "instance_state" {
  description = "Instance state (\"running\" once applied: create waits for it)."
  value       = fakecloud_instance.this.state
}

output "provider_id" {
  description = "fakecloud:///<availability zone>/<instance id>; a replaced instance gets a new id."
  value       = "fakecloud:///${fakecloud_instance.this.availability_zone}/${fakecloud_instance.this.id}"
}

output "addresses" {
  description = "list(object({type = string, address = string})): InternalIP and InternalDNS."
  value = [
    { type = "InternalIP", address = fakecloud_instance.this.private_ip },
    { type = "InternalDNS", address = fakecloud_instance.this.private_dns },
  ]
}

output "failure_domain" {
  description = "Availability zone the instance runs in."
  value       = fakecloud_instance.this.availability_zone
}

output "health" {
  description = "object({status, message}): healthy while the instance runs, unknown while pending, unhealthy otherwise (stopped). CAPI's MachineHealthCheck replaces a machine reported unhealthy."
  value = {
    status  = fakecloud_instance.this.state == "running" ? "healthy" : fakecloud_instance.this.state == "pending" ? "unknown" : "unhealthy"
    message = "instance ${fakecloud_instance.this.id} is ${fakecloud_instance.this.state}"
  }
}
