#!/usr/bin/env bash
# Starts one canary rollout (a Step Functions execution) and waits for its outcome.
# Exit 0 when it succeeds (promoted, or already promoted before); non-zero with the cause otherwise.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/run-rollout.sh --state-machine-arn ARN [options]

Starts the stage's canary rollout state machine with input {} and polls it until it ends,
printing its status and elapsed time. A FAILED, TIMED_OUT or ABORTED execution (a rollback)
exits 1 with the execution's error and cause.

Options:
  --state-machine-arn ARN   rollout state machine (RolloutStateMachineArn output; required)
  --role-arn ARN            role to assume first (RolloutRoleArn output); re-assumed before the
                            one-hour session of a chained role expires (default: current credentials)
  --poll-seconds N          seconds between status checks (default 30)
  --name NAME               execution name (default: pipeline-<build number or time>-<random>)
  --output FILE             write the outcome as JSON: the execution's output (the RolloutRecord of
                            docs/CONTRACTS.md) on success, {"outcome":"rolled-back"|"failed",
                            "error","cause"} otherwise (written before the non-zero exit)
  --help                    show this text

Needs the AWS CLI v2 (and node for --output). The region is taken from the state machine ARN.
EOF
}

state_machine_arn=''
role_arn=''
poll_seconds=30
name=''
output_file=''
while [[ $# -gt 0 ]]; do
  case "$1" in
    --state-machine-arn) state_machine_arn="${2:-}"; shift 2 ;;
    --role-arn) role_arn="${2:-}"; shift 2 ;;
    --poll-seconds) poll_seconds="${2:-}"; shift 2 ;;
    --name) name="${2:-}"; shift 2 ;;
    --output) output_file="${2:-}"; shift 2 ;;
    --help | -h) usage; exit 0 ;;
    *) echo "run-rollout: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ! "$state_machine_arn" =~ ^arn:aws[a-z-]*:states:([a-z0-9-]+):[0-9]{12}:stateMachine:.+$ ]]; then
  echo "run-rollout: --state-machine-arn must be a Step Functions state machine ARN, got '${state_machine_arn}'" >&2
  exit 2
fi
region="${BASH_REMATCH[1]}"
if [[ ! "$poll_seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "run-rollout: --poll-seconds must be a positive whole number, got '${poll_seconds}'" >&2
  exit 2
fi
if [[ -n "$output_file" ]]; then
  mkdir -p "$(dirname "$output_file")" || { echo "run-rollout: cannot create the folder of --output '${output_file}'" >&2; exit 2; }
fi
name="${name:-pipeline-${CODEBUILD_BUILD_NUMBER:-$(date -u +%Y%m%dT%H%M%S)}-${RANDOM}}"

# Credentials of the assumed role live only in these variables, so the caller's own credentials
# stay available to assume the role again (a chained session lasts at most one hour).
role_key='' role_secret='' role_token='' assumed_at=0
assume() {
  local creds
  creds="$(aws sts assume-role --role-arn "$role_arn" --role-session-name "rollout-${name:0:50}" \
    --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)"
  read -r role_key role_secret role_token <<<"$creds"
  assumed_at="$(date +%s)"
}
# Call in the main shell (not inside $(...)), so the fresh credentials are kept.
refresh_credentials() {
  if [[ -n "$role_arn" ]] && (($(date +%s) - assumed_at > 2700)); then assume; fi
}
sfn() {
  if [[ -n "$role_arn" ]]; then
    AWS_ACCESS_KEY_ID="$role_key" AWS_SECRET_ACCESS_KEY="$role_secret" AWS_SESSION_TOKEN="$role_token" \
      aws stepfunctions --region "$region" "$@"
  else
    aws stepfunctions --region "$region" "$@"
  fi
}

refresh_credentials
execution_arn="$(sfn start-execution --state-machine-arn "$state_machine_arn" --name "$name" --input '{}' \
  --query executionArn --output text)"
echo "run-rollout: started ${execution_arn}"
started="$(date +%s)"
while true; do
  refresh_credentials
  status="$(sfn describe-execution --execution-arn "$execution_arn" --query status --output text)"
  elapsed=$(($(date +%s) - started))
  printf 'run-rollout: %s after %dm%02ds\n' "$status" $((elapsed / 60)) $((elapsed % 60))
  case "$status" in
    RUNNING | PENDING_REDRIVE) sleep "$poll_seconds" ;;
    SUCCEEDED)
      output="$(sfn describe-execution --execution-arn "$execution_arn" --query output --output text)"
      echo "run-rollout: output ${output}"
      if [[ -n "$output_file" ]]; then
        printf '%s\n' "$output" >"$output_file"
        echo "run-rollout: wrote ${output_file}"
      fi
      exit 0
      ;;
    *)
      IFS=$'\t' read -r error cause <<<"$(sfn describe-execution --execution-arn "$execution_arn" \
        --query '[error,cause]' --output text)"
      echo "run-rollout: rollout ${status}: ${error}: ${cause}" >&2
      if [[ -n "$output_file" ]]; then
        case "$error" in
          CanaryRolledBack | CanaryRejectedBefore) outcome='rolled-back' ;;
          *) outcome='failed' ;;
        esac
        OUTCOME="$outcome" ERROR="$error" CAUSE="$cause" STATUS="$status" node -e \
          'const e = process.env; process.stdout.write(JSON.stringify({ outcome: e.OUTCOME, status: e.STATUS, error: e.ERROR, cause: e.CAUSE }) + "\n")' \
          >"$output_file"
        echo "run-rollout: wrote ${output_file}" >&2
      fi
      exit 1
      ;;
  esac
done
