variable "cluster_name" {
  description = "CAPI Cluster name."
  type        = string
}

variable "machine_name" {
  description = "CustomMachine name; the instance's Name tag."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type; a change replaces the instance."
  type        = string
}

variable "image_id" {
  description = "AMI id; a change replaces the instance."
  type        = string
}

variable "ssh_key_name" {
  description = "EC2 key pair name; empty means none."
  type        = string
  default     = ""
  nullable    = false
}

variable "subnet_id" {
  description = "Subnet id; empty means the failure domain's subnet."
  type        = string
  default     = ""
  nullable    = false
}

variable "security_group_ids" {
  description = "Security group ids attached besides the cluster's groups (see use_cluster_security_groups)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "iam_instance_profile" {
  description = "IAM instance profile name; empty means none."
  type        = string
  default     = ""
  nullable    = false
}

variable "root_volume" {
  description = "Root EBS volume; null keeps the AMI's. device_name is ignored: the AMI names the root device."
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
  description = "Extra EBS volumes; an empty device_name becomes /dev/sdf, /dev/sdg, ... by position."
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
  description = "Bootstrap data (the bootstrap Secret's value), passed gzipped as EC2 user data."
  type        = string
  default     = ""
  sensitive   = true
  nullable    = false
}

variable "tags" {
  description = "Tags (the cluster's additionalTags merged with the machine's tags); Name and the ownership tag are added."
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
  description = "Whether to register the instance into the API server load balancer's target group."
  type        = bool
  default     = false
  nullable    = false
}

variable "region" {
  description = "AWS region; empty falls back to cluster.region (then the provider's AWS_REGION)."
  type        = string
  default     = ""
  nullable    = false
}

variable "cluster" {
  description = "The cluster module's outputs (control_plane_endpoint, vpc_id, load_balancer, failure_domains, ...) as recorded in the CustomCluster."
  type        = any
  default     = null
}

variable "use_cluster_security_groups" {
  description = "Attach the cluster's <cluster_name>-node group (and -controlplane for control-plane machines), found by name in the cluster's VPC, besides security_group_ids."
  type        = bool
  default     = true
  nullable    = false
}

variable "api_target_group_arn" {
  description = "Target group control-plane machines register into; empty means the one the cluster load balancer's listener forwards to."
  type        = string
  default     = ""
  nullable    = false
}
