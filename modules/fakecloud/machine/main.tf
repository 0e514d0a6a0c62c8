# Fake cloud machine: one instance (create waits until it is running) in the failure domain's
# subnet with the given security groups; control-plane machines are registered with the API
# server load balancer. instance_type, image_id, subnet and volumes replace the instance; tags,
# user_data and security groups are updated in place.
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
  region          = var.region != "" ? var.region : try(tostring(var.cluster.region), "fakecloud")
  failure_domains = try(tolist(var.cluster.failure_domains), [])
  fd_by_name      = { for fd in local.failure_domains : fd.name => fd }
  fd = (
    var.failure_domain != "" ? lookup(local.fd_by_name, var.failure_domain, null) :
    length(local.failure_domains) > 0 ? local.failure_domains[0] : null
  )
  subnet_id = var.subnet_id != "" ? var.subnet_id : try(local.fd.attributes.subnet_id, "")
  tags      = merge(var.tags, { Name = var.machine_name, "kubernetes.io/cluster/${var.cluster_name}" = "owned" })
}

# Idempotency tokens: terraform_data gets a random id and is recorded in state before anything
# else is created, so a create retried after a crash lost its response (the manager killed
# mid-apply) carries the same token and adopts what the lost request created instead of
# creating a duplicate. (The modules replace destroy-then-create, so a replacement never meets
# its predecessor's token.)
resource "terraform_data" "client_token" {}

resource "fakecloud_instance" "this" {
  name                 = var.machine_name
  instance_type        = var.instance_type
  image_id             = var.image_id
  subnet_id            = local.subnet_id
  security_group_ids   = var.security_group_ids
  ssh_key_name         = var.ssh_key_name != "" ? var.ssh_key_name : null
  iam_instance_profile = var.iam_instance_profile != "" ? var.iam_instance_profile : null
  user_data            = var.user_data != "" ? var.user_data : null
  root_volume_size     = var.root_volume == null ? null : var.root_volume.size
  data_volume_sizes    = [for v in var.additional_volumes : v.size]
  tags                 = local.tags
  wait_timeout         = var.wait_timeout
  client_token         = "${terraform_data.client_token.id}/instance"

  lifecycle {
    precondition {
      condition     = local.subnet_id != ""
      error_message = "No subnet for the instance: set subnet_id, or pass a cluster whose failure_domains carry attributes.subnet_id (failure_domain \"${var.failure_domain}\")."
    }
  }
}

resource "fakecloud_lb_target" "api" {
  count             = var.control_plane ? 1 : 0
  load_balancer_arn = var.cluster.load_balancer.arn
  instance_id       = fakecloud_instance.this.id
  port              = 6443
  client_token      = "${terraform_data.client_token.id}/lb-target"
}
