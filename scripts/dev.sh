#!/usr/bin/env bash
# `make dev`: the whole local world on loopback, until Ctrl-C or SIGTERM.
#   moto (DynamoDB + Secrets Manager) on DDB_PORT (8000), tables created from template.yaml,
#   the functions served by `cargo lambda watch` on API_PORT (9000) with template.yaml's paths,
#   the WeChat simulator (tests/wechat-sim) on SIM_PORT (9100), pushing to the functions;
#   the rollout queue and its dead-letter queue in moto's SQS, drained into rollout-worker by
#   `devstack sqs-source` as Lambda's SQS event source does (with its 5-minute sync schedule);
#   the events bus (with its archive) in moto's EventBridge, fed from the events table's stream by
#   `devstack stream-source` driving event-publisher as Lambda's DynamoDB event source does.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DDB_PORT=${DDB_PORT:-8000}
API_PORT=${API_PORT:-9000}
SIM_PORT=${SIM_PORT:-9100}
SIM_CONFIG=${SIM_CONFIG:-tests/wechat-sim/demo.toml}
TABLE_PREFIX=${TABLE_PREFIX:-wxtp-dev-}
export API_PORT

ensure_venv
mkdir -p .dev

pids=()
cleanup() {
  trap - EXIT INT TERM
  log "stopping"
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
set -m # background jobs get their own process group, so cleanup stops their children too

if [ -n "${COMPONENT_APPID:-}" ]; then
  component_source="your COMPONENT_* environment"
else
  set -a; source scripts/demo-component.env; set +a
  component_source="the demo component of scripts/demo-component.env"
fi

log "moto (DynamoDB, Secrets Manager, SQS) on 127.0.0.1:$DDB_PORT"
start_moto "$DDB_PORT" .dev/moto.log
pids+=("$MOTO_PID")

# Build each binary exactly as it is run afterwards (`cargo run -p devstack`, `cargo run -p
# wechat-sim`, and `cargo lambda watch`'s `cargo run --bin <function>`): cargo resolves features per
# command, so one `cargo build -p a -p b …` would leave every function to be compiled again on its
# first request.
functions=(ticket-receive auth-start auth-callback token-refresh code-admin console)
# The rollouts' consumer, once its crate exists.
if [ -d functions/rollout-worker ]; then functions+=(rollout-worker); fi
# Tokens and WeChat calls for internal services: invoked directly, no route (README "Service gateway").
functions+=(service-gateway)
# Webhooks' delivery (README, "Webhooks").
functions+=(webhook-delivery)
# The events' publisher (the events table's stream → the bus).
functions+=(event-publisher)
if [ ! -d "${CARGO_TARGET_DIR:-target}/debug" ]; then
  log "first build on this machine: compiling ~400 crates takes several minutes on 2 cores (later runs take seconds)"
fi
build_step=0
build_total=$((2 + ${#functions[@]}))
build() {
  build_step=$((build_step + 1))
  local started=$SECONDS
  log "building $1 ($build_step/$build_total)"
  cargo build --quiet "${@:2}" || die "building $1 failed"
  [ $((SECONDS - started)) -lt 5 ] || log "  $1 built in $((SECONDS - started)) s"
}
build devstack -p devstack
build wechat-sim -p wechat-sim
for fn in "${functions[@]}"; do build "$fn" --bin "$fn"; done

log "creating the tables of template.yaml"
while IFS='=' read -r name value; do
  export "$name=$value"
done < <(cargo run --quiet -p devstack -- create-tables "$TABLE_PREFIX")
log "creating the rollout queue and its dead-letter queue (template.yaml's RolloutQueue)"
while IFS='=' read -r name value; do
  export "$name=$value"
done < <(cargo run --quiet -p devstack -- create-queue "${TABLE_PREFIX}rollouts")
[ -n "${ROLLOUT_QUEUE_URL:-}" ] || die "creating the rollout queue failed (see above)"
# Webhooks (README, "Webhooks"): the bus, the webhook queue and its dead-letter queue in moto;
# code-admin puts each subscription's rule on the bus. Plain http to loopback is allowed here only.
log "creating the event bus and the webhook queue (template.yaml's EventBus, WebhookQueue)"
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$DDB_PORT"
while IFS='=' read -r name value; do
  export "$name=$value"
done < <(cargo run --quiet -p devstack -- create-webhooks "$TABLE_PREFIX")
[ -n "${WEBHOOK_QUEUE_URL:-}" ] || die "creating the webhook queue failed (see above)"
export WEBHOOK_ALLOW_LOOPBACK=true
HOOK_PORT=${HOOK_PORT:-9200}
log "creating the events bus, its archive and a queue of what it publishes (template.yaml's EventBus)"
while IFS='=' read -r name value; do
  export "$name=$value"
done < <(cargo run --quiet -p devstack -- create-bus "${TABLE_PREFIX}events")
[ -n "${EVENT_BUS_NAME:-}" ] || die "creating the events bus failed (see above)"

# code-admin's tokens: the public demo one (256 bits, README) unless ADMIN_TOKEN_HASHES is set.
if [ -z "${ADMIN_TOKEN_HASHES:-}" ]; then
  export ADMIN_TOKEN_HASHES="demo:f445396ad7eb62a782996bde50bd8b054463ba31530d8851cc4c66e3b47ad462"
  admin_hint="-H 'Authorization: Bearer No9TyPmPFs88aZgVjyx2Ol8sqGKy0XtApK26gfnwshw'"
  console_token="No9TyPmPFs88aZgVjyx2Ol8sqGKy0XtApK26gfnwshw (the demo token)"
else
  admin_hint="-H 'Authorization: Bearer <your admin token>'"
  console_token="one of your admin tokens"
fi

# The functions reach the simulator through the base-URL settings (defaults: WeChat's hosts).
export WECHAT_API_BASE="http://127.0.0.1:$SIM_PORT"
export WECHAT_MP_BASE="http://127.0.0.1:$SIM_PORT"
export WECHAT_OPEN_BASE="http://127.0.0.1:$SIM_PORT"
export AUTH_CALLBACK_URL="http://127.0.0.1:$API_PORT/auth/callback"

port_in_use "$API_PORT" && die "port $API_PORT is already in use (set API_PORT to another port)"
log "functions on 127.0.0.1:$API_PORT (cargo lambda watch; logs below and in .dev/functions.log)"
cargo lambda watch -A 127.0.0.1 -P "$API_PORT" 2>&1 | tee .dev/functions.log &
pids+=("$!")
wait_port "$API_PORT" 120 || die "cargo lambda watch did not start; see .dev/functions.log"
# Start each HTTP function now with a request it refuses without side effects (no WeChat call, no
# write), so that the first real request finds it running.
log "starting the functions (a request each, answered 4xx)"
warm() {
  local method=$1 path=$2 want=$3 got
  got=$(curl -s -o /dev/null -w '%{http_code}' -m 300 -X "$method" "http://127.0.0.1:$API_PORT$path") || true
  [ "$got" = "$want" ] || die "$method $path answered ${got:-nothing} (expected $want); see .dev/functions.log"
}
warm POST /wechat/component/notify 400
warm GET '/auth/start?auth_type=9' 400
warm GET /auth/callback 400
warm GET /admin/authorizers 401
warm GET /console/ 200

# The rollout queue's event source, as template.yaml's RolloutWorkerFunction events: batches of 10,
# 5 invocations at a time, and {"mode":"sync"} every 5 minutes.
if [ -d functions/rollout-worker ]; then
  log "rollout queue -> rollout-worker (devstack sqs-source; logs in .dev/sqs-source.log)"
  cargo run --quiet -p devstack -- sqs-source --queue-url "$ROLLOUT_QUEUE_URL" \
    --function rollout-worker --invoke-url "http://127.0.0.1:$API_PORT" \
    --batch-size 10 --concurrency 5 --timeout-secs 30 \
    --schedule-secs 300 --schedule-input '{"mode":"sync"}' >.dev/sqs-source.log 2>&1 &
  pids+=("$!")
  rollout_source="drained into rollout-worker (.dev/sqs-source.log)"
else
  rollout_source="no consumer yet (functions/rollout-worker does not exist)"
fi

# The webhook queue's event source, as template.yaml's WebhookDeliveryFunction events, and a
# local receiver printing what it gets (.dev/webhook-receiver.log).
log "webhook queue -> webhook-delivery (devstack sqs-source; logs in .dev/webhook-source.log)"
cargo run --quiet -p devstack -- sqs-source --queue-url "$WEBHOOK_QUEUE_URL" \
  --function webhook-delivery --invoke-url "http://127.0.0.1:$API_PORT" \
  --batch-size 10 --concurrency 5 --timeout-secs 30 >.dev/webhook-source.log 2>&1 &
pids+=("$!")
port_in_use "$HOOK_PORT" && die "port $HOOK_PORT is already in use (set HOOK_PORT to another port)"
log "webhook receiver on 127.0.0.1:$HOOK_PORT (devstack webhook-receiver; logs in .dev/webhook-receiver.log)"
cargo run --quiet -p devstack -- webhook-receiver --port "$HOOK_PORT" >.dev/webhook-receiver.log 2>&1 &
pids+=("$!")
# The events table's stream → event-publisher, as template.yaml's EventPublisherFunction `Outbox`
# event: from the oldest record, inserts only, batches of 100, 10 retries, then the on-failure queue.
log "events table stream -> event-publisher (devstack stream-source; logs in .dev/stream-source.log)"
cargo run --quiet -p devstack -- stream-source --table "$EVENTS_TABLE" \
  --function event-publisher --invoke-url "http://127.0.0.1:$API_PORT" \
  --batch-size 100 --timeout-secs 30 --max-retry-attempts 10 \
  --on-failure-queue-url "$EVENT_PUBLISHER_DEAD_LETTER_QUEUE_URL" >.dev/stream-source.log 2>&1 &
pids+=("$!")

port_in_use "$SIM_PORT" && die "port $SIM_PORT is already in use (set SIM_PORT to another port)"
log "WeChat simulator on 127.0.0.1:$SIM_PORT ($SIM_CONFIG; logs in .dev/sim.log)"
SIM_PORT=$SIM_PORT SIM_AUTHORIZATION_EVENT_URL="http://127.0.0.1:$API_PORT/wechat/component/notify" \
  SIM_MESSAGE_URL="http://127.0.0.1:$API_PORT/wechat/authorizer/\$APPID\$/notify" \
  RUST_LOG=${RUST_LOG:-info} cargo run --quiet -p wechat-sim -- "$SIM_CONFIG" >.dev/sim.log 2>&1 &
pids+=("$!")
wait_port "$SIM_PORT" 60 || { cat .dev/sim.log >&2; die "the simulator did not start"; }

admin=http://127.0.0.1:$API_PORT/admin/authorizers
mp=wxd3m0shop00000001
cat <<EOT

  The local platform is up (component: $component_source, appid $COMPONENT_APPID).

  Operator console          http://127.0.0.1:$API_PORT/console/   sign in with $console_token;
                            authorize, commit, review and release there without the terminal

  Authorization event URL   POST http://127.0.0.1:$API_PORT/wechat/component/notify
  DynamoDB (moto)           http://127.0.0.1:$DDB_PORT   tables: $TICKETS_TABLE $AUTHORIZERS_TABLE $AUDITS_TABLE $ACTIONS_TABLE $ROLLOUTS_TABLE
                            $ONBOARDINGS_TABLE $EVENTS_TABLE $WEBHOOKS_TABLE $WEBHOOK_DELIVERIES_TABLE
  Rollout queue (moto SQS)  $ROLLOUT_QUEUE_URL, $rollout_source
                            dead letters: $ROLLOUT_DEAD_LETTER_QUEUE_URL
  Event bus (moto)          $EVENT_BUS_NAME; webhook queue $WEBHOOK_QUEUE_URL -> webhook-delivery
                            (.dev/webhook-source.log); receiver http://127.0.0.1:$HOOK_PORT (.dev/webhook-receiver.log)
  Events bus (moto)         $EVENT_BUS_NAME, published by event-publisher (.dev/stream-source.log)
                            every event also lands in $EVENTS_SEEN_QUEUE_URL
  WeChat simulator          http://127.0.0.1:$SIM_PORT   pushes a component_verify_ticket now and every
                            ${SIM_TICKET_INTERVAL_SECS:-$(grep -m1 ticket_interval_secs "$SIM_CONFIG" | tr -dc 0-9)} s (SIM_TICKET_INTERVAL_SECS)

  Authorize a mini program:  open http://127.0.0.1:$API_PORT/auth/start in a browser, follow a link,
                             pick a mini program on the simulator's page and confirm; then
    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT cargo run -q -p devstack -- dump $AUTHORIZERS_TABLE

  Manage its code (admin API; see README "Routes"), e.g. for the demo coffee shop:
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/authorizers
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/authorizers/wxd3m0shop00000001/commits \\
         -d '{"template_id":1,"user_version":"1.0.0","user_desc":"first","ext":{"shop":"coffee"}}'
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/authorizers/wxd3m0shop00000001/audits -d '{}'
    # 5 s later the simulator pushes the result; then:
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/authorizers/wxd3m0shop00000001/release
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/authorizers/wxd3m0shop00000001/audits
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/authorizers/wxd3m0shop00000001/actions
  Review readiness (template 2 uses Location: README "Review readiness"), for the coffee shop $mp:
    curl -s $admin_hint -X POST $admin/$mp/commits -d '{"template_id":2,"user_version":"1.1.0"}'
    curl -s $admin_hint $admin/$mp/readiness           # privacy_setting, privacy_scan (and domains: submit does not need them) not ok yet
    curl -s $admin_hint -X POST $admin/$mp/audits -d '{}'   # 409 privacy_setting_missing: Location, wx.getLocation
    curl -s $admin_hint -X PUT $admin/$mp/privacy \
         -d '{"owner_setting":{"contact_email":"privacy@example.com","notice_method":"弹窗"},"setting_list":[{"privacy_key":"Location","privacy_text":"查找附近门店"}]}'
    curl -s $admin_hint -X POST $admin/$mp/privacy/interfaces/wx.getLocation/apply -d '{"content":"查找附近门店"}'
    # 20 simulated s later (demo.toml's privacy.apply_secs) the application is approved; the same
    # submit then goes to review (curl -s $admin_hint $admin/$mp/privacy/interfaces shows it)
  Roll template 1 out to every authorized demo mini program (README "Rollouts"; authorize some first):
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/rollouts \
         -d '{"template_id":1,"user_version":"1.2.0","targets":{"all":true},"release":"auto"}'
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/rollouts          # its id, status and progress
    # reviews pass 5 simulated s after submission; GET /admin/rollouts/\$ID shows the counts per state
  Fast-register a mini program (the simulator's legal person confirms 60 simulated s later, or at once
  with curl -s -X POST http://127.0.0.1:$SIM_PORT/sim/registrations/\$TASKID/confirm; taskids: /sim/registrations):
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/registrations -d '{"name":"示例科技有限公司","code":"91440300MA5EXAMPL1","code_type":1,"legal_persona_wechat":"legal_wx01","legal_persona_name":"张三"}'
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/registrations
  Webhooks (README "Webhooks"): subscribe the local receiver (http to loopback: make dev only),
  note the secret (shown once), send a test event, see it in .dev/webhook-receiver.log:
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/webhooks \
         -d '{"url":"http://127.0.0.1:$HOOK_PORT/hook","events":["message.*","event.*"]}'
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/webhooks/\$ID/test
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/webhooks/\$ID/deliveries
    # signatures checked: another receiver given the secret, e.g.
    cargo run -q -p devstack -- webhook-receiver --port 9201 --secret whsec_...
  Onboard the fast-registered mini program (README "Onboarding"; \$REG is its registration's id; images
  are base64 of at most 40 KiB: some.png is any small PNG):
    png=\$(base64 -w0 some.png); img="{\"file_name\":\"a.png\",\"content_type\":\"image/png\",\"base64\":\"\$png\"}"
    curl -s $admin_hint -X POST http://127.0.0.1:$API_PORT/admin/onboardings -d "{\"registration_id\":\"\$REG\",\"profile\":{\"nickname\":{\"nick_name\":\"示例点单助手\",\"license\":\$img},\"avatar\":\$img,\"signature\":\"门店点单与订单查询\",\"categories\":[{\"first\":287,\"second\":289}]}}"
    # reviews end 60 simulated s later and push; run the schedule (or wait for it):
    cargo lambda invoke rollout-worker --data-ascii '{"mode":"onboarding"}' -A 127.0.0.1 -P $API_PORT
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/onboardings    # steps, next actions, field errors
    curl -s -X POST http://127.0.0.1:$SIM_PORT/sim/clock/advance -d '{"seconds":3600}'   # filing reviews
  Send a push to a mini program's message URL and see it stored and published (README "Events"):
    curl -s -X POST http://127.0.0.1:$SIM_PORT/sim/messages -H 'content-type: application/json' \
         -d '{"appid":"wxd3m0shop00000001","msg_type":"text","fields":{"Content":"我想退货"}}'
    curl -s $admin_hint "http://127.0.0.1:$API_PORT/admin/pushes?appid=wxd3m0shop00000001"
    AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$DDB_PORT aws sqs receive-message --queue-url $EVENTS_SEEN_QUEUE_URL
  Refresh tokens now:  cargo lambda invoke token-refresh --data-ascii '{"mode":"refresh"}' -A 127.0.0.1 -P $API_PORT
  Service gateway (README "Service gateway"; what internal services invoke), for the coffee shop $mp once authorized:
    cargo lambda invoke service-gateway --data-ascii '{"action":"token","appid":"$mp"}' -A 127.0.0.1 -P $API_PORT
    cargo lambda invoke service-gateway -A 127.0.0.1 -P $API_PORT \
         --data-ascii '{"action":"call","appid":"$mp","method":"POST","path":"/wxa/generate_urllink","body":{"path":"pages/index/index"}}'

  Try it (in another terminal, from this folder):
    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT cargo run -q -p devstack -- dump $TICKETS_TABLE
                                                     # the simulator's newest ticket is there
    curl -s http://127.0.0.1:$SIM_PORT/sim/pushes      # what the simulator pushed and how it was answered
    curl -s -X POST http://127.0.0.1:$SIM_PORT/sim/push/ticket   # push another ticket now
    curl -s -X POST http://127.0.0.1:$SIM_PORT/sim/go-live-check -d '{"group":0}'   # WeChat's go-live check (README)
    curl -s $admin_hint http://127.0.0.1:$API_PORT/admin/go-live   # what the platform stored of each case
    .venv/bin/python scripts/push.py ticket          # a ticket push encrypted by wechatpy -> success
    .venv/bin/python scripts/push.py ticket --create-time \$(( \$(date +%s) - 600 ))   # older: newer ticket stays
    .venv/bin/python scripts/push.py tampered        # bad signature -> 401, nothing stored

  Ctrl-C stops everything.
EOT
wait
