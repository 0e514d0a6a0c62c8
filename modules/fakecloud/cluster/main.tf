# Fake cloud cluster infrastructure: a VPC, subnets (one private /20 per zone a, b, c by default),
# the <cluster_name>-controlplane and <cluster_name>-node security groups plus any extra ones, and
# the API server load balancer, all in the fake cloud (fakecloud/server) through the real
# terraform-plugin-framework provider company/fakecloud, installed from a filesystem mirror.
# The provider reads FAKECLOUD_ENDPOINT and FAKECLOUD_TOKEN from the environment (the
# credentials Secret) unless fakecloud_endpoint is set.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    fakecloud = {
      source  = "company/fakecloud"
      version = "0.1.0"
    }
  }
}

provider "fakecloud" {
  endpoint = var.fakecloud_endpoint != "" ? var.fakecloud_endpoint : null
}

locals {
  tags       = merge(var.tags, { "kubernetes.io/cluster/${var.cluster_name}" = "owned" })
  create_vpc = var.vpc.id == ""
  vpc_id     = local.create_vpc ? fakecloud_vpc.this[0].id : var.vpc.id
  vpc_cidr   = var.vpc.cidr_block

  default_subnets = [for i, z in ["a", "b", "c"] : {
    id                = ""
    cidr_block        = cidrsubnet(local.vpc_cidr, 4, i)
    availability_zone = "${var.region}${z}"
    is_public         = false
  }]
  subnet_list = length(var.subnets) > 0 ? var.subnets : local.default_subnets
  # Keyed by input position so a subnet keeps its address when others are added after it.
  subnets = { for i, s in local.subnet_list : format("%03d", i) => {
    id                = s.id
    cidr_block        = s.cidr_block != "" ? s.cidr_block : cidrsubnet(local.vpc_cidr, 4, i)
    availability_zone = s.availability_zone != "" ? s.availability_zone : "${var.region}${["a", "b", "c"][i % 3]}"
    is_public         = s.is_public
  } }
  created_subnets = { for k, s in local.subnets : k => s if s.id == "" }
  subnet_ids      = { for k, s in local.subnets : k => s.id != "" ? s.id : fakecloud_subnet.this[k].id }

  security_groups = merge(
    {
      "${var.cluster_name}-controlplane" = [{ description = "kube-apiserver", protocol = "tcp", from_port = var.load_balancer.port, to_port = var.load_balancer.port, cidr_blocks = ["0.0.0.0/0"] }]
      "${var.cluster_name}-node"         = [{ description = "all from vpc", protocol = "-1", from_port = 0, to_port = 0, cidr_blocks = [local.vpc_cidr] }]
    },
    { for g in var.security_groups : g.name => g.ingress_rules },
  )

  zones = distinct([for k in sort(keys(local.subnets)) : local.subnets[k].availability_zone])
}

# Idempotency tokens: terraform_data gets a random id and is recorded in state before anything
# else is created, so a create retried after a crash lost its response (the manager killed
# mid-apply) carries the same token and adopts what the lost request created instead of
# creating a duplicate. (The modules replace destroy-then-create, so a replacement never meets
# its predecessor's token.)
resource "terraform_data" "client_token" {}

resource "fakecloud_vpc" "this" {
  count        = local.create_vpc ? 1 : 0
  name         = "${var.cluster_name}-vpc"
  cidr_block   = local.vpc_cidr
  tags         = local.tags
  client_token = "${terraform_data.client_token.id}/vpc"
}

resource "fakecloud_subnet" "this" {
  for_each          = local.created_subnets
  name              = "${var.cluster_name}-subnet-${each.value.is_public ? "public" : "private"}-${each.value.availability_zone}"
  vpc_id            = local.vpc_id
  cidr_block        = each.value.cidr_block
  availability_zone = each.value.availability_zone
  is_public         = each.value.is_public
  tags              = local.tags
  client_token      = "${terraform_data.client_token.id}/subnet/${each.key}"
}

resource "fakecloud_security_group" "this" {
  for_each    = local.security_groups
  name        = each.key
  vpc_id      = local.vpc_id
  description = "${each.key} (${var.cluster_name})"
  ingress_rules = [for r in each.value : {
    description = r.description
    protocol    = r.protocol
    from_port   = r.from_port
    to_port     = r.to_port
    cidr_blocks = length(r.cidr_blocks) > 0 ? r.cidr_blocks : [local.vpc_cidr]
  }]
  tags         = local.tags
  client_token = "${terraform_data.client_token.id}/sg/${each.key}"
}

resource "fakecloud_load_balancer" "api" {
  name         = "${var.cluster_name}-apiserver"
  scheme       = var.load_balancer.scheme
  type         = var.load_balancer.type
  port         = var.load_balancer.port
  cross_zone   = var.load_balancer.cross_zone
  subnet_ids   = [for k in sort(keys(local.subnets)) : local.subnet_ids[k]]
  tags         = local.tags
  client_token = "${terraform_data.client_token.id}/lb"
}
