output "control_plane_endpoint" {
  description = "API server endpoint: {host = string, port = number}."
  value = {
    host = terraform_data.load_balancer.output.dns_name
    port = terraform_data.load_balancer.output.port
  }
}

output "vpc_id" {
  description = "VPC id."
  value       = terraform_data.vpc.output.id
}

output "subnet_ids" {
  description = "Subnet ids, in input order."
  value       = [for k in sort(keys(local.subnets)) : terraform_data.subnet[k].output.id]
}

output "security_group_ids" {
  description = "Security group ids, sorted by group name."
  value       = [for k in sort(keys(local.security_groups)) : terraform_data.security_group[k].output.id]
}

output "load_balancer" {
  description = "API server load balancer: {dns_name = string, arn = string}."
  value = {
    dns_name = terraform_data.load_balancer.output.dns_name
    arn      = terraform_data.load_balancer.output.arn
  }
}

output "failure_domains" {
  description = "One per availability zone: list(object({name = string, control_plane = bool, attributes = map(string)}))."
  value = [for z in local.zones : {
    name          = z
    control_plane = true
    attributes = {
      subnet_id   = [for k in sort(keys(local.subnets)) : terraform_data.subnet[k].output.id if local.subnets[k].availability_zone == z][0]
      subnet_cidr = [for k in sort(keys(local.subnets)) : local.subnets[k].cidr_block if local.subnets[k].availability_zone == z][0]
    }
  }]
}
