"""The VPC everything runs in: a new one, or an existing one named in the settings."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import NetworkSettings


class Network(Construct):
    """A VPC whose private subnets (with egress) hold the Batch instances, the Lambdas and EFS.

    A new VPC gets public subnets for its NAT gateways, private subnets with egress, a free S3
    gateway endpoint (so staging traffic does not pay NAT processing) and flow logs; interface
    endpoints only when listed, since each costs per hour in every availability zone.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: NetworkSettings,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if settings.vpc_id is not None:
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=settings.vpc_id,
                availability_zones=list(settings.availability_zones or []),
                private_subnet_ids=list(settings.private_subnet_ids or []),
            )
            self.private_subnets = ec2.SubnetSelection(subnets=self.vpc.private_subnets)
            return

        flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=log_retention, removal_policy=removal_policy
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(settings.cidr),
            max_azs=settings.max_azs if settings.availability_zones is None else None,
            availability_zones=settings.availability_zones,
            nat_gateways=settings.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            flow_logs={
                "FlowLog": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self.vpc = vpc
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        for service in settings.interface_endpoints:
            endpoint_id = "".join(
                part.capitalize() for part in service.replace("-", ".").split(".")
            )
            endpoint = vpc.add_interface_endpoint(
                f"{endpoint_id}Endpoint",
                service=ec2.InterfaceVpcEndpointAwsService(service),
                subnets=self.private_subnets,
                private_dns_enabled=True,
                open=False,
            )
            endpoint.connections.allow_default_port_from(
                ec2.Peer.ipv4(settings.cidr), "HTTPS from inside the VPC"
            )
