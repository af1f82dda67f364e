"""Constants copied from real traffic: user agents, source IPs, TLS, API versions and daily rhythms.

Values here are what real, anonymised CloudTrail records carry (``userAgent``, ``sourceIPAddress``,
``tlsDetails``, ``eventVersion``), so records built from them look like AWS's. Also the two time
formats the records use: ``_iso(ts)`` ("2026-03-02T08:43:17Z") and ``_aws_date(ts, comma=...)`` (the
dates in STS and IAM ``responseElements``). Plain data and pure functions; imports nothing of the package.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone

_DAY = 86400

_UA_JAVA = ("aws-sdk-java/2.25.16 Linux/6.1.79-99.164.amzn2023.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS "
            "Java/17.0.10 vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy")
_UA_SSM_AGENT = "aws-sdk-go/1.44.302 (go1.21.6; linux; amd64) amazon-ssm-agent/3.3.131.0"
_UA_LAMBDA_PY = ("Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209-219.812.amzn2.x86_64 md/arch#x86_64 "
                 "lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy "
                 "Botocore/1.34.42")
_UA_LAMBDA_JS = ("aws-sdk-js/3.496.0 ua/2.0 os/linux#5.10.209-219.812.amzn2.x86_64 lang/js md/nodejs#20.11.0 "
                 "api/s3#3.496.0 exec-env/AWS_Lambda_nodejs20.x")
_UA_CLI_MAC = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off"
_UA_CLI_WIN = "aws-cli/2.15.17 Python/3.11.6 Windows/10 exe/AMD64 prompt/off"
_UA_CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/122.0.0.0 Safari/537.36")
_UA_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0"
_UA_S3_CONSOLE = ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.661 Linux/5.10.213-180.872.amzn2int.x86_64 "
                  "OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation "
                  "cfg/retry-mode/standard]")
_UA_TERRAFORM = ("APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 "
                 "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.25.2 os/linux "
                 "lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64")
_UA_GHA_CREDENTIALS = "configure-aws-credentials-for-github-actions"
_UA_GHA_CLI = "aws-cli/2.15.24 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off"
_UA_JENKINS = "aws-cli/2.13.4 Python/3.11.4 Linux/5.15.0-91-generic exe/x86_64.ubuntu.22 prompt/off"
_UA_JENKINS_BOTO = ("Boto3/1.28.57 md/Botocore#1.31.57 ua/2.0 os/linux#5.15.0-91-generic md/arch#x86_64 "
                    "lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.31.57")
_UA_MONITORING = "aws-sdk-go/1.50.21 (go1.21.7; linux; amd64) monitoring-agent/7.51.0"
_UA_SAML2AWS = "aws-sdk-go/1.44.318 (go1.21.1; darwin; arm64) saml2aws/2.36.13"
_UA_ETL = "aws-sdk-java/1.12.661 Linux/3.10.0-1160.108.1.el7.x86_64 OpenJDK_64-Bit_Server_VM/11.0.22+7-LTS java/11.0.22"
_UA_SSO_CLI = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off command/sso.login"
_UA_SSO_PORTAL = "aws-internal/3 aws-sdk-java/1.12.646 Linux/5.10.210-178.855.amzn2int.x86_64"
ATTACKER_UA = "aws-cli/2.15.30 Python/3.11.8 Linux/6.6.9-amd64 exe/x86_64.kali.2024 prompt/off"
BACKDOOR_UA = ("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.6.15-amd64 md/arch#x86_64 lang/python#3.11.8 "
               "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69")
ATTACKER_IPS = ("198.51.100.23", "198.51.100.77", "203.0.113.58")

_OFFICE_IPS = ("192.0.2.44", "192.0.2.45")
_JENKINS_IP = "192.0.2.10"
_ETL_IP = "192.0.2.11"
_MONITORING_IP = "54.211.172.93"
_REGION_PREFIXES = {"us-east-1": ("3.91", "54.87", "18.206", "44.201"),
                    "eu-west-1": ("34.249", "52.48", "54.78", "3.250"),
                    "us-west-2": ("44.231", "35.88", "54.190", "52.34")}
_GITHUB_PREFIXES = ("20.57", "4.175", "52.159", "172.183", "20.171")

_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")

_VERSIONS = {"ec2": "1.10", "iam": "1.09", "sts": "1.08", "s3": "1.10", "kms": "1.10", "lambda": "1.08",
             "cloudtrail": "1.10", "ssm": "1.09", "secretsmanager": "1.09", "organizations": "1.09",
             "signin": "1.08", "sso": "1.08"}
_SOURCES = {service: f"{service}.amazonaws.com" for service in _VERSIONS}

# Activity per hour of day (UTC): office hours for people, a flatter curve for CI and for services.
_HUMAN_HOURS = (1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 13, 14, 14, 13, 11, 8, 5, 3, 2, 1, 1)
_CI_HOURS = (2, 2, 4, 2, 1, 1, 2, 4, 8, 10, 10, 9, 8, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 2)
_SERVICE_HOURS = (5, 4, 4, 4, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 8, 8, 7, 6, 6, 5)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
_B32 = base64.b32encode
_B64 = base64.b64encode


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aws_date(ts: int, *, comma: bool) -> str:
    """Dates in responseElements: "Nov 30, 2024, 8:43:17 PM" (STS) or "Aug 1, 2024 1:33:28 PM" (IAM)."""
    t = datetime.fromtimestamp(ts, timezone.utc)
    hour = t.hour % 12 or 12
    sep, half = (", " if comma else " "), ("AM" if t.hour < 12 else "PM")
    return f"{_MONTHS[t.month - 1]} {t.day}, {t.year}{sep}{hour}:{t.minute:02d}:{t.second:02d} {half}"
