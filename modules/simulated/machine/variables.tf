variable "cluster_name" {
  description = "CAPI Cluster name."
  type        = string
}

variable "machine_name" {
  description = "CustomMachine name; seeds the instance id and address."
  type        = string
}

variable "instance_type" {
  description = "Instance type; a change replaces the instance."
  type        = string
}

variable "image_id" {
  description = "Image id; a change replaces the instance."
  type        = string
}

variable "ssh_key_name" {
  type     = string
  default  = ""
  nullable = false
}

variable "subnet_id" {
  description = "Subnet id; empty means the failure domain's subnet."
  type        = string
  default     = ""
  nullable    = false
}

variable "security_group_ids" {
  type     = list(string)
  default  = []
  nullable = false
}

variable "iam_instance_profile" {
  type     = string
  default  = ""
  nullable = false
}

variable "root_volume" {
  type = object({
    device_name = optional(string, "/dev/sda1")
    size        = number
    type        = optional(string, "gp3")
    iops        = optional(number, 0)
    encrypted   = optional(bool, false)
  })
  default = null
}

variable "additional_volumes" {
  type = list(object({
    device_name = optional(string, "")
    size        = number
    type        = optional(string, "gp3")
    iops        = optional(number, 0)
    encrypted   = optional(bool, false)
  }))
  default  = []
  nullable = false
}

variable "user_data" {
  description = "Bootstrap data (the bootstrap Secret's value)."
  type        = string
  default     = ""
  sensitive   = true
  nullable    = false
}

variable "tags" {
  description = "Tags (in-place updates)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "failure_domain" {
  description = "Failure domain (zone) name; empty means the cluster's first failure domain."
  type        = string
  default     = ""
  nullable    = false
}

variable "control_plane" {
  description = "Whether to register the instance with the API server load balancer."
  type        = bool
  default     = false
  nullable    = false
}

variable "region" {
  description = "Region for provider_id; empty falls back to cluster.region, then \"simulated\"."
  type        = string
  default     = ""
  nullable    = false
}

variable "cluster" {
  description = "The cluster module's outputs (control_plane_endpoint, subnet_ids, load_balancer, failure_domains, ...)."
  type        = any
  default     = null
}

variable "simulated_instance_state" {
  description = "The simulated instance's state (spec.variables): anything but \"running\" makes the health output unhealthy, as a stopped instance would."
  type        = string
  default     = "running"
  nullable    = false
}
