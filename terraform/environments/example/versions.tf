terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Keep state remote and locked; fill in your bucket and table.
  # backend "s3" {
  #   bucket         = "my-terraform-state"
  #   key            = "tributary/example.tfstate"
  #   region         = "eu-central-1"
  #   dynamodb_table = "terraform-locks"
  #   encrypt        = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "tributary:environment" = var.environment
      "managed-by"            = "terraform"
    }
  }
}
