variable "cluster_name" {
  description = "CAPI Cluster name."
  type        = string
}

variable "namespace" {
  description = "Namespace of the CustomCluster."
  type        = string
  default     = "default"
  nullable    = false
}

variable "region" {
  description = "Region name."
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
  description = "Subnets; empty means one private /20 per zone a, b, c of the region."
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
  description = "Extra security groups; the module always creates <cluster_name>-controlplane and <cluster_name>-node."
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
  description = "API server load balancer."
  type = object({
    scheme     = optional(string, "internet-facing")
    type       = optional(string, "network")
    port       = optional(number, 6443)
    cross_zone = optional(bool, false)
  })
  default  = {}
  nullable = false
}

variable "tags" {
  description = "Tags applied to every resource (in-place updates)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "fakecloud_endpoint" {
  description = "Fake cloud API base URL; empty means the provider's FAKECLOUD_ENDPOINT environment variable."
  type        = string
  default     = ""
  nullable    = false
}
