# Simulated machine: builtin terraform_data only. instance_type and image_id replace the
# instance (triggers_replace); everything else is an in-place update of `input`.
terraform {
  required_version = ">= 1.5.0"
}

locals {
  region          = var.region != "" ? var.region : try(tostring(var.cluster.region), "simulated")
  failure_domains = try(tolist(var.cluster.failure_domains), [])
  fd_by_name      = { for fd in local.failure_domains : fd.name => fd }
  fd = (
    var.failure_domain != "" ? lookup(local.fd_by_name, var.failure_domain, null) :
    length(local.failure_domains) > 0 ? local.failure_domains[0] : null
  )
  fd_by_subnet = { for fd in local.failure_domains : try(fd.attributes.subnet_id, "") => fd }
  subnet_fd    = var.subnet_id != "" ? lookup(local.fd_by_subnet, var.subnet_id, local.fd) : local.fd
  subnet_id    = var.subnet_id != "" ? var.subnet_id : try(local.fd.attributes.subnet_id, "subnet-simulated")
  subnet_cidr  = try(local.subnet_fd.attributes.subnet_cidr, "10.0.0.0/24")
  failure_zone = var.failure_domain != "" ? var.failure_domain : try(local.subnet_fd.name, "")
  subnet_hosts = pow(2, 32 - tonumber(split("/", local.subnet_cidr)[1]))
  host_index   = 10 + parseint(substr(sha1(var.machine_name), 0, 6), 16) % max(1, local.subnet_hosts - 20)
  private_ip   = cidrhost(local.subnet_cidr, local.host_index)
  # Unique like a cloud's (the cluster's VPC id is seeded with its namespace: same-named machines of
  # two namespaces differ) and stable across replacement: the providerID never changes.
  instance_id   = "i-${substr(sha1("${coalesce(try(var.cluster.vpc_id, null), "-")}/${var.cluster_name}/${var.machine_name}"), 0, 17)}"
  user_data_sum = nonsensitive(sha256(var.user_data))
}

resource "terraform_data" "instance" {
  triggers_replace = [var.instance_type, var.image_id]
  input = {
    id                   = local.instance_id
    state                = var.simulated_instance_state
    instance_type        = var.instance_type
    image_id             = var.image_id
    subnet_id            = local.subnet_id
    private_ip           = local.private_ip
    ssh_key_name         = var.ssh_key_name
    security_group_ids   = var.security_group_ids
    iam_instance_profile = var.iam_instance_profile
    root_volume          = var.root_volume
    additional_volumes   = var.additional_volumes
    user_data_sha256     = local.user_data_sum
    tags                 = var.tags
  }
}

resource "terraform_data" "lb_registration" {
  count = var.control_plane ? 1 : 0
  input = {
    load_balancer_arn = try(var.cluster.load_balancer.arn, "")
    instance_id       = terraform_data.instance.output.id
    port              = try(var.cluster.control_plane_endpoint.port, 6443)
  }
}
