# What Axon's role may invoke when the engine is Bedrock, derived from axon_bedrock_model_id (unless
# bedrock_model_arns names it explicitly):
#   - a foundation model ID (amazon.nova-lite-v1:0): that model in this Region;
#   - a cross-Region inference profile ID (us.amazon.nova-lite-v1:0, eu., apac., global., ...) or an inference
#     profile ARN: the profile itself, and the foundation model in every Region the profile routes to, as Bedrock
#     reports them (a global profile also needs the Region-less model ARN). The routed-model grants carry a
#     bedrock:InferenceProfileArn condition, so they serve only calls made through that profile.

locals {
  bedrock_enabled = var.axon_engine == "bedrock"
  bedrock_profile_requested = (
    can(regex("^(us|us-gov|eu|apac|jp|au|ca|global)\\.", var.axon_bedrock_model_id)) ||
    can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:[0-9]{12}:(application-)?inference-profile/", var.axon_bedrock_model_id))
  )
  bedrock_lookup_profile = local.bedrock_enabled && local.bedrock_profile_requested && length(var.bedrock_model_arns) == 0
}

data "aws_bedrock_inference_profile" "axon" {
  count = local.bedrock_lookup_profile ? 1 : 0

  inference_profile_id = var.axon_bedrock_model_id
}

locals {
  bedrock_profile_arn = local.bedrock_lookup_profile ? data.aws_bedrock_inference_profile.axon[0].inference_profile_arn : null
  bedrock_routed_model_arns = local.bedrock_lookup_profile ? distinct(concat(
    [for model in data.aws_bedrock_inference_profile.axon[0].models : model.model_arn],
    startswith(var.axon_bedrock_model_id, "global.") ? ["arn:${local.partition}:bedrock:::foundation-model/${trimprefix(var.axon_bedrock_model_id, "global.")}"] : [],
  )) : []
  bedrock_direct_arns = (
    !local.bedrock_enabled ? [] :
    length(var.bedrock_model_arns) > 0 ? var.bedrock_model_arns :
    local.bedrock_lookup_profile ? [local.bedrock_profile_arn] :
    ["arn:${local.partition}:bedrock:${local.region}::foundation-model/${var.axon_bedrock_model_id}"]
  )
}
