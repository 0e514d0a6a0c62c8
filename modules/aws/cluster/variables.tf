variable "cluster_name" {
  description = "CAPI Cluster name; prefixes resource names and the kubernetes.io/cluster/<name> ownership tag."
  type        = string
}

variable "namespace" {
  description = "Namespace of the CustomCluster; part of the load balancer's unique name."
  type        = string
  default     = "default"
  nullable    = false
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "vpc" {
  description = "VPC to create (cidr_block) or to use (id)."
  type = object({
    id         = optional(string, "")
    cidr_block = optional(string, "10.0.0.0/16")
  })
  default  = {}
  nullable = false
}

variable "subnets" {
  description = "Subnets to create (cidr_block) or use (id); empty means one public and one private /20 in each of up to three zones."
  type = list(object({
    id                = optional(string, "")
    cidr_block        = optional(string, "")
    availability_zone = optional(string, "")
    is_public         = optional(bool, false)
  }))
  default  = []
  nullable = false
}

variable "security_groups" {
  description = "Extra security groups; the module always creates <cluster_name>-controlplane and <cluster_name>-node with the rules a kubeadm cluster needs."
  type = list(object({
    name = string
    ingress_rules = optional(list(object({
      description = optional(string, "")
      protocol    = string
      from_port   = number
      to_port     = number
      cidr_blocks = optional(list(string), [])
    })), [])
  }))
  default  = []
  nullable = false
}

variable "load_balancer" {
  description = "API server load balancer (a network load balancer)."
  type = object({
    scheme     = optional(string, "internet-facing")
    type       = optional(string, "network")
    port       = optional(number, 6443)
    cross_zone = optional(bool, false)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.load_balancer.type == "network"
    error_message = "The aws family creates a network load balancer for the API server: load_balancer.type must be \"network\"."
  }
  validation {
    condition     = contains(["internet-facing", "internal"], var.load_balancer.scheme)
    error_message = "load_balancer.scheme must be \"internet-facing\" or \"internal\"."
  }
}

variable "tags" {
  description = "Tags applied to every resource, besides Name and the ownership tag."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "api_server_ingress_cidrs" {
  description = "CIDRs allowed to reach the API server on 6443; empty means 0.0.0.0/0 for an internet-facing load balancer and the VPC CIDR for an internal one."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "nat_gateway" {
  description = "Create a NAT gateway (in the first public subnet) so private subnets reach the internet, e.g. to pull images."
  type        = bool
  default     = true
  nullable    = false
}
