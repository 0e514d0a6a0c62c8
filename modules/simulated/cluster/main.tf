# Simulated cluster infrastructure: builtin terraform_data only, no provider, no network calls.
# Ids are derived from inputs so a re-created state yields the same ids. Resources reference
# locals, not other resources' `output`: an in-place update makes `output` unknown at plan time,
# which would turn a tag change into replacements downstream.
terraform {
  required_version = ">= 1.5.0"
}

locals {
  seed     = "${var.namespace}/${var.cluster_name}"
  vpc_cidr = var.vpc.cidr_block
  vpc_id   = var.vpc.id != "" ? var.vpc.id : "vpc-${substr(sha1("${local.seed}/vpc"), 0, 17)}"

  default_subnets = [for i, z in ["a", "b", "c"] : {
    id                = ""
    cidr_block        = cidrsubnet(local.vpc_cidr, 4, i)
    availability_zone = "${var.region}${z}"
    is_public         = false
  }]
  subnet_list = length(var.subnets) > 0 ? var.subnets : local.default_subnets
  subnets = { for i, s in local.subnet_list : format("%03d", i) => {
    id                = s.id != "" ? s.id : "subnet-${substr(sha1("${local.seed}/subnet/${i}"), 0, 17)}"
    cidr_block        = s.cidr_block != "" ? s.cidr_block : cidrsubnet(local.vpc_cidr, 4, i)
    availability_zone = s.availability_zone != "" ? s.availability_zone : "${var.region}${["a", "b", "c"][i % 3]}"
    is_public         = s.is_public
  } }

  security_groups = merge(
    {
      "${var.cluster_name}-controlplane" = [{ description = "kube-apiserver", protocol = "tcp", from_port = var.load_balancer.port, to_port = var.load_balancer.port, cidr_blocks = ["0.0.0.0/0"] }]
      "${var.cluster_name}-node"         = [{ description = "all from vpc", protocol = "-1", from_port = 0, to_port = 0, cidr_blocks = [local.vpc_cidr] }]
    },
    { for g in var.security_groups : g.name => g.ingress_rules },
  )

  lb_dns_name = "${var.cluster_name}.${var.namespace}.${var.region}.capc.local"
  lb_arn      = "arn:capc:elasticloadbalancing:${var.region}:loadbalancer/${var.load_balancer.type}/${substr(sha1("${local.seed}/lb"), 0, 16)}"

  # One failure domain per zone; control planes may use any zone that has a private subnet.
  zones = distinct([for k in sort(keys(local.subnets)) : local.subnets[k].availability_zone])
}

resource "terraform_data" "vpc" {
  input = {
    id         = local.vpc_id
    cidr_block = local.vpc_cidr
    tags       = var.tags
  }
}

resource "terraform_data" "subnet" {
  for_each         = local.subnets
  triggers_replace = [each.value.cidr_block, each.value.availability_zone, local.vpc_id]
  input            = merge(each.value, { vpc_id = local.vpc_id, tags = var.tags })
  depends_on       = [terraform_data.vpc]
}

resource "terraform_data" "security_group" {
  for_each = local.security_groups
  input = {
    id            = "sg-${substr(sha1("${local.seed}/sg/${each.key}"), 0, 17)}"
    name          = each.key
    vpc_id        = local.vpc_id
    ingress_rules = each.value
    tags          = var.tags
  }
  depends_on = [terraform_data.vpc]
}

resource "terraform_data" "load_balancer" {
  triggers_replace = [var.load_balancer.scheme, var.load_balancer.type]
  input = {
    arn        = local.lb_arn
    dns_name   = local.lb_dns_name
    port       = var.load_balancer.port
    cross_zone = var.load_balancer.cross_zone
    subnet_ids = [for k in sort(keys(local.subnets)) : local.subnets[k].id]
    tags       = var.tags
  }
  depends_on = [terraform_data.subnet]
}
