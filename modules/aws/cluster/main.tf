# AWS cluster infrastructure: VPC, subnets across availability zones, internet gateway and
# routes, security groups for a kubeadm cluster and a network load balancer for the API server.
# Credentials come from the process environment (spec.credentialsRef Secret keys such as
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the module never reads them.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_vpc" "existing" {
  count = var.vpc.id != "" ? 1 : 0
  id    = var.vpc.id
}

data "aws_subnet" "existing" {
  for_each = { for i, s in var.subnets : format("%03d", i) => s.id if s.id != "" }
  id       = each.value
}

locals {
  owned     = { "kubernetes.io/cluster/${var.cluster_name}" = "owned" }
  tags      = merge(var.tags, local.owned)
  seed      = "${var.namespace}/${var.cluster_name}"
  safe_name = replace(var.cluster_name, "/[^a-zA-Z0-9-]/", "-")

  create_vpc = var.vpc.id == ""
  vpc_id     = local.create_vpc ? aws_vpc.this[0].id : var.vpc.id
  vpc_cidr   = local.create_vpc ? var.vpc.cidr_block : data.aws_vpc.existing[0].cidr_block

  zones = slice(data.aws_availability_zones.available.names, 0, min(3, length(data.aws_availability_zones.available.names)))
  default_subnets = concat(
    [for i, z in local.zones : { id = "", cidr_block = cidrsubnet(local.vpc_cidr, 4, i), availability_zone = z, is_public = true }],
    [for i, z in local.zones : { id = "", cidr_block = cidrsubnet(local.vpc_cidr, 4, i + 3), availability_zone = z, is_public = false }],
  )
  subnet_list = length(var.subnets) > 0 ? var.subnets : local.default_subnets

  # Keyed by input position so a subnet keeps its address when others are added after it.
  subnets = { for i, s in local.subnet_list : format("%03d", i) => {
    id                = s.id
    cidr_block        = s.id != "" ? data.aws_subnet.existing[format("%03d", i)].cidr_block : (s.cidr_block != "" ? s.cidr_block : cidrsubnet(local.vpc_cidr, 4, i))
    availability_zone = s.id != "" ? data.aws_subnet.existing[format("%03d", i)].availability_zone : (s.availability_zone != "" ? s.availability_zone : local.zones[i % length(local.zones)])
    is_public         = s.is_public
  } }
  created_subnets = { for k, s in local.subnets : k => s if s.id == "" }
  subnet_ids      = { for k, s in local.subnets : k => s.id != "" ? s.id : aws_subnet.this[k].id }

  public_keys  = [for k in sort(keys(local.subnets)) : k if local.subnets[k].is_public]
  private_keys = [for k in sort(keys(local.subnets)) : k if !local.subnets[k].is_public]

  # Machines go to private subnets when there are any; the load balancer to the subnets its
  # scheme needs (public for internet-facing), one per zone as AWS requires.
  machine_subnet_keys = length(local.private_keys) > 0 ? local.private_keys : local.public_keys
  machine_zones       = distinct([for k in local.machine_subnet_keys : local.subnets[k].availability_zone])
  lb_candidates       = var.load_balancer.scheme == "internal" ? local.machine_subnet_keys : (length(local.public_keys) > 0 ? local.public_keys : local.machine_subnet_keys)
  lb_subnet_by_zone   = { for k in local.lb_candidates : local.subnets[k].availability_zone => local.subnet_ids[k]... }
  lb_subnet_ids       = [for z in sort(keys(local.lb_subnet_by_zone)) : local.lb_subnet_by_zone[z][0]]

  api_cidrs = length(var.api_server_ingress_cidrs) > 0 ? var.api_server_ingress_cidrs : (
    var.load_balancer.scheme == "internal" ? [local.vpc_cidr] : ["0.0.0.0/0"]
  )

  # Public routing is only managed for subnets this module creates.
  created_public  = { for k, s in local.created_subnets : k => s if s.is_public }
  created_private = { for k, s in local.created_subnets : k => s if !s.is_public }
  nat             = var.nat_gateway && length(local.created_private) > 0 && length(local.public_keys) > 0

  user_rules = merge([for g in var.security_groups : {
    for i, r in g.ingress_rules : "${g.name}/${i}" => merge(r, { group = g.name })
  }]...)
  all_security_groups = merge(
    {
      "${var.cluster_name}-controlplane" = aws_security_group.controlplane.id
      "${var.cluster_name}-node"         = aws_security_group.node.id
    },
    { for name, g in aws_security_group.user : name => g.id },
  )

  lb_name = "${trimsuffix(substr(local.safe_name, 0, 24), "-")}-${substr(sha1(local.seed), 0, 7)}"
}

resource "aws_vpc" "this" {
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = "${var.cluster_name}-vpc" })
}

resource "aws_subnet" "this" {
  for_each                = local.created_subnets
  vpc_id                  = local.vpc_id
  cidr_block              = each.value.cidr_block
  availability_zone       = each.value.availability_zone
  map_public_ip_on_launch = each.value.is_public
  tags = merge(local.tags, {
    Name                                                                                  = "${var.cluster_name}-subnet-${each.value.is_public ? "public" : "private"}-${each.value.availability_zone}"
    (each.value.is_public ? "kubernetes.io/role/elb" : "kubernetes.io/role/internal-elb") = "1"
  })
}

resource "aws_internet_gateway" "this" {
  count  = local.create_vpc && length(local.created_public) > 0 ? 1 : 0
  vpc_id = local.vpc_id
  tags   = merge(local.tags, { Name = "${var.cluster_name}-igw" })
}

resource "aws_route_table" "public" {
  count  = length(aws_internet_gateway.this)
  vpc_id = local.vpc_id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.this[0].id
  }
  tags = merge(local.tags, { Name = "${var.cluster_name}-rt-public" })
}

resource "aws_route_table_association" "public" {
  for_each       = length(aws_route_table.public) > 0 ? local.created_public : {}
  subnet_id      = aws_subnet.this[each.key].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_eip" "nat" {
  count  = local.nat && length(aws_internet_gateway.this) > 0 ? 1 : 0
  domain = "vpc"
  tags   = merge(local.tags, { Name = "${var.cluster_name}-nat" })
}

resource "aws_nat_gateway" "this" {
  count         = length(aws_eip.nat)
  allocation_id = aws_eip.nat[0].id
  subnet_id     = local.subnet_ids[local.public_keys[0]]
  tags          = merge(local.tags, { Name = "${var.cluster_name}-nat" })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "private" {
  count  = length(aws_nat_gateway.this)
  vpc_id = local.vpc_id
  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.this[0].id
  }
  tags = merge(local.tags, { Name = "${var.cluster_name}-rt-private" })
}

resource "aws_route_table_association" "private" {
  for_each       = length(aws_route_table.private) > 0 ? local.created_private : {}
  subnet_id      = aws_subnet.this[each.key].id
  route_table_id = aws_route_table.private[0].id
}

# Security groups. Control plane: API server from the allowed CIDRs (the network load balancer
# preserves client addresses) and from the VPC (health checks, nodes). Both groups allow all
# traffic from each other and themselves: kubelet (10250), etcd (2379-2380) between control-plane
# members, and whatever the CNI uses (BGP 179, VXLAN 4789, IP-in-IP).
resource "aws_security_group" "controlplane" {
  name        = "${var.cluster_name}-controlplane"
  description = "Kubernetes control plane of ${var.cluster_name}"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${var.cluster_name}-controlplane" })
}

resource "aws_security_group" "node" {
  name        = "${var.cluster_name}-node"
  description = "Kubernetes nodes of ${var.cluster_name}"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = "${var.cluster_name}-node" })
}

resource "aws_security_group_rule" "apiserver" {
  security_group_id = aws_security_group.controlplane.id
  type              = "ingress"
  description       = "kube-apiserver"
  protocol          = "tcp"
  from_port         = 6443
  to_port           = 6443
  cidr_blocks       = distinct(concat(local.api_cidrs, [local.vpc_cidr]))
}

resource "aws_security_group_rule" "cluster_internal" {
  for_each = {
    "controlplane-from-controlplane" = [aws_security_group.controlplane.id, aws_security_group.controlplane.id]
    "controlplane-from-node"         = [aws_security_group.controlplane.id, aws_security_group.node.id]
    "node-from-node"                 = [aws_security_group.node.id, aws_security_group.node.id]
    "node-from-controlplane"         = [aws_security_group.node.id, aws_security_group.controlplane.id]
  }
  security_group_id        = each.value[0]
  source_security_group_id = each.value[1]
  type                     = "ingress"
  description              = "cluster internal: ${each.key}"
  protocol                 = "-1"
  from_port                = 0
  to_port                  = 0
}

resource "aws_security_group_rule" "egress" {
  for_each          = { controlplane = aws_security_group.controlplane.id, node = aws_security_group.node.id }
  security_group_id = each.value
  type              = "egress"
  description       = "all outbound"
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}

resource "aws_security_group" "user" {
  for_each    = { for g in var.security_groups : g.name => g }
  name        = each.key
  description = "${each.key} (${var.cluster_name})"
  vpc_id      = local.vpc_id
  tags        = merge(local.tags, { Name = each.key })
}

resource "aws_security_group_rule" "user" {
  for_each          = local.user_rules
  security_group_id = aws_security_group.user[each.value.group].id
  type              = "ingress"
  description       = each.value.description != "" ? each.value.description : null
  protocol          = each.value.protocol
  from_port         = each.value.from_port
  to_port           = each.value.to_port
  cidr_blocks       = length(each.value.cidr_blocks) > 0 ? each.value.cidr_blocks : [local.vpc_cidr]
}

# API server network load balancer; control-plane machines register into the target group.
resource "aws_lb" "api" {
  name                             = local.lb_name
  load_balancer_type               = "network"
  internal                         = var.load_balancer.scheme == "internal"
  subnets                          = local.lb_subnet_ids
  enable_cross_zone_load_balancing = var.load_balancer.cross_zone
  tags                             = merge(local.tags, { Name = "${var.cluster_name}-apiserver" })
  depends_on                       = [aws_route_table_association.public]
}

resource "aws_lb_target_group" "api" {
  name        = local.lb_name
  port        = 6443
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = local.vpc_id
  health_check {
    protocol            = "TCP"
    port                = "traffic-port"
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }
  tags = merge(local.tags, { Name = "${var.cluster_name}-apiserver" })
}

resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = var.load_balancer.port
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
  tags = local.tags
}
