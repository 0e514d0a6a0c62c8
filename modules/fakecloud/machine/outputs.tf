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
