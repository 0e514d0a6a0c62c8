output "instance_id" {
  description = "EC2 instance id."
  value       = aws_instance.this.id
}

output "instance_state" {
  description = "EC2 instance state (pending, running, ...)."
  value       = aws_instance.this.instance_state
}

output "provider_id" {
  description = "aws:///<availability zone>/<instance id>, the form the AWS cloud controller manager sets on the Node."
  value       = "aws:///${aws_instance.this.availability_zone}/${aws_instance.this.id}"
}

output "addresses" {
  description = "list(object({type = string, address = string})): InternalIP and InternalDNS, plus ExternalIP and ExternalDNS when the instance has a public address."
  value = concat(
    [
      { type = "InternalIP", address = aws_instance.this.private_ip },
      { type = "InternalDNS", address = aws_instance.this.private_dns },
    ],
    aws_instance.this.public_ip != "" ? [{ type = "ExternalIP", address = aws_instance.this.public_ip }] : [],
    aws_instance.this.public_dns != "" ? [{ type = "ExternalDNS", address = aws_instance.this.public_dns }] : [],
  )
}

output "failure_domain" {
  description = "Availability zone the instance runs in."
  value       = aws_instance.this.availability_zone
}

output "health" {
  description = "object({status, message}) from the EC2 instance state: running is healthy, pending unknown, anything else (stopping, stopped, shutting-down, terminated) unhealthy."
  value = {
    status  = aws_instance.this.instance_state == "running" ? "healthy" : aws_instance.this.instance_state == "pending" ? "unknown" : "unhealthy"
    message = "EC2 instance ${aws_instance.this.id} is ${aws_instance.this.instance_state}"
  }
}
