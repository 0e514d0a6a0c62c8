# AWS machine: one EC2 instance in the failure domain's subnet with the cluster's security
# groups; control-plane machines register into the API server load balancer's target group.
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
  region = local.region != "" ? local.region : null
}

locals {
  region          = var.region != "" ? var.region : try(tostring(var.cluster.region), "")
  failure_domains = try(tolist(var.cluster.failure_domains), [])
  fd_by_name      = { for fd in local.failure_domains : fd.name => fd }
  fd = (
    var.failure_domain != "" ? lookup(local.fd_by_name, var.failure_domain, null) :
    length(local.failure_domains) > 0 ? local.failure_domains[0] : null
  )
  subnet_id = var.subnet_id != "" ? var.subnet_id : try(local.fd.attributes.subnet_id, null)
  vpc_id    = try(tostring(var.cluster.vpc_id), "")

  cluster_groups = var.use_cluster_security_groups && local.vpc_id != "" ? concat(
    ["${var.cluster_name}-node"],
    var.control_plane ? ["${var.cluster_name}-controlplane"] : [],
  ) : []
  security_group_ids = distinct(concat([for g in data.aws_security_group.cluster : g.id], var.security_group_ids))

  tags = merge(var.tags, {
    Name                                        = var.machine_name
    "kubernetes.io/cluster/${var.cluster_name}" = "owned"
  })
  device_letters = ["f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"]

  register        = var.control_plane
  lookup_listener = local.register && var.api_target_group_arn == ""
  target_group_arn = !local.register ? "" : (
    var.api_target_group_arn != "" ? var.api_target_group_arn : data.aws_lb_listener.api[0].default_action[0].target_group_arn
  )
}

data "aws_security_group" "cluster" {
  for_each = toset(local.cluster_groups)
  vpc_id   = local.vpc_id
  name     = each.value
}

data "aws_lb_listener" "api" {
  count             = local.lookup_listener ? 1 : 0
  load_balancer_arn = var.cluster.load_balancer.arn
  port              = try(var.cluster.control_plane_endpoint.port, 6443)
}

resource "aws_instance" "this" {
  ami                    = var.image_id
  instance_type          = var.instance_type
  key_name               = var.ssh_key_name != "" ? var.ssh_key_name : null
  iam_instance_profile   = var.iam_instance_profile != "" ? var.iam_instance_profile : null
  subnet_id              = local.subnet_id
  vpc_security_group_ids = local.security_group_ids
  user_data_base64       = var.user_data != "" ? base64gzip(var.user_data) : null

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  dynamic "root_block_device" {
    for_each = var.root_volume == null ? [] : [var.root_volume]
    content {
      volume_size = root_block_device.value.size
      volume_type = root_block_device.value.type
      iops        = root_block_device.value.iops > 0 ? root_block_device.value.iops : null
      encrypted   = root_block_device.value.encrypted
      tags        = local.tags
    }
  }

  dynamic "ebs_block_device" {
    for_each = var.additional_volumes
    content {
      device_name = ebs_block_device.value.device_name != "" ? ebs_block_device.value.device_name : "/dev/sd${local.device_letters[ebs_block_device.key]}"
      volume_size = ebs_block_device.value.size
      volume_type = ebs_block_device.value.type
      iops        = ebs_block_device.value.iops > 0 ? ebs_block_device.value.iops : null
      encrypted   = ebs_block_device.value.encrypted
      tags        = local.tags
    }
  }

  tags = local.tags
}

resource "aws_lb_target_group_attachment" "api" {
  count            = local.register ? 1 : 0
  target_group_arn = local.target_group_arn
  target_id        = aws_instance.this.id
  port             = 6443
}
