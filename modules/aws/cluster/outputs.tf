output "control_plane_endpoint" {
  description = "API server endpoint: {host = string, port = number}: the load balancer's DNS name and listener port."
  value = {
    host = aws_lb.api.dns_name
    port = var.load_balancer.port
  }
}

output "vpc_id" {
  description = "VPC id."
  value       = local.vpc_id
}

output "subnet_ids" {
  description = "Subnet ids, in input order (default subnets: public ones first)."
  value       = [for k in sort(keys(local.subnets)) : local.subnet_ids[k]]
}

output "security_group_ids" {
  description = "Security group ids, sorted by group name."
  value       = [for k in sort(keys(local.all_security_groups)) : local.all_security_groups[k]]
}

output "load_balancer" {
  description = "API server load balancer: {dns_name = string, arn = string}. Machines find its target group through the listener."
  value = {
    dns_name = aws_lb.api.dns_name
    arn      = aws_lb.api.arn
  }
}

output "failure_domains" {
  description = "One per availability zone with a machine subnet (private subnets when there are any): list(object({name, control_plane, attributes = {subnet_id, subnet_cidr}}))."
  value = [for z in local.machine_zones : {
    name          = z
    control_plane = true
    attributes = {
      subnet_id   = [for k in local.machine_subnet_keys : local.subnet_ids[k] if local.subnets[k].availability_zone == z][0]
      subnet_cidr = [for k in local.machine_subnet_keys : local.subnets[k].cidr_block if local.subnets[k].availability_zone == z][0]
    }
  }]
}
