output "control_plane_endpoint" {
  description = "API server endpoint: {host = string, port = number}: the load balancer's DNS name and port."
  value = {
    host = fakecloud_load_balancer.api.dns_name
    port = fakecloud_load_balancer.api.port
  }
}

output "vpc_id" {
  description = "VPC id."
  value       = local.vpc_id
}

output "subnet_ids" {
  description = "Subnet ids, in input order."
  value       = [for k in sort(keys(local.subnets)) : local.subnet_ids[k]]
}

output "security_group_ids" {
  description = "Security group ids, sorted by group name."
  value       = [for k in sort(keys(local.security_groups)) : fakecloud_security_group.this[k].id]
}

output "load_balancer" {
  description = "API server load balancer: {dns_name = string, arn = string}."
  value = {
    dns_name = fakecloud_load_balancer.api.dns_name
    arn      = fakecloud_load_balancer.api.arn
  }
}

output "failure_domains" {
  description = "One per availability zone: list(object({name = string, control_plane = bool, attributes = map(string)}))."
  value = [for z in local.zones : {
    name          = z
    control_plane = true
    attributes = {
      subnet_id   = [for k in sort(keys(local.subnets)) : local.subnet_ids[k] if local.subnets[k].availability_zone == z][0]
      subnet_cidr = [for k in sort(keys(local.subnets)) : local.subnets[k].cidr_block if local.subnets[k].availability_zone == z][0]
    }
  }]
}
