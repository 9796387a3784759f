#!/usr/bin/env bash
# A residual network end to end (issue 11): a stem conv with batchnorm and two
# residual blocks with BatchNorm inside (an identity block, and a projecting one
# with stride 2 whose shortcut has its own norm) on small generated CIFAR-10
# files, under model.batchnorm: local (FedBN, each client keeps the blocks'
# norms too), gives byte-identical metrics.json and eval.csv whether its 5
# clients live in 1 process or 3. One task of the 10 classes: under local the
# global model is evaluated with its own, never trained, norms, and it learns
# enough for the accuracy check only when no task is forgotten.
# With local models evaluated, FedBN's per-client evaluation carries every
# norm of the blocks too: each client's model (the global one with its own
# stem and block norms) is scored, and beats the global model, whose norms
# under local never train.
. "$(dirname "$0")/lib.sh"
q() { "$@" >>"$work/stdout.txt" 2>&1; }

check "fcl-gen-data writes a CIFAR-10 folder" q "$FCL_GEN_DATA" -o "$work/c10" \
	--format cifar10 --classes 10 --train 1000 --test 300 --seed 8
cat >"$work/resnet.yaml" <<YAML
name: resnet-bn
seed: 7
data: {format: cifar10, path: $work/c10,
       mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616]}
model:
  layers:
    - {type: conv2d, channels: 8, kernel: 3, padding: 1, bias: false}
    - {type: batchnorm}
    - {type: relu}
    - {type: maxpool, kernel: 2}
    - {type: residual, channels: 8, norm: batchnorm}
    - {type: residual, channels: 16, stride: 2, norm: batchnorm}
    - {type: gap}
    - {type: dense}
  batchnorm: local
clients: {count: 5, per_round: 4, partition: dirichlet, alpha: 0.5}
tasks: {generator: single, rounds_per_task: 4}
train: {local_epochs: 2, batch_size: 16, lr: 0.05, momentum: 0.9}
strategy: {name: er, memory: 40}
aggregation: {rule: fedavg}
evaluation: {local_models: true}
run: {round_timeout: 60, join_timeout: 30}
YAML
check "fcl-scenario show prints the blocks with their norms" \
	grep -q 'residual 16 s2 proj bn' <("$FCL_SCENARIO" show "$work/resnet.yaml" 2>&1)
check_layouts "$work/resnet.yaml" "the residual network with BatchNorm (local)"
m=$work/one/metrics.json
note "FedBN: mean $(json_field "$m" fedbn_mean) (min $(json_field "$m" fedbn_min)," \
	"max $(json_field "$m" fedbn_max)) over $(json_field "$m" fedbn_clients) clients;" \
	"global model $(json_field "$m" final_avg_acc)"
check "FedBN evaluates every client's own norms (fedbn_clients 5)" \
	test "$(json_field "$m" fedbn_clients)" = 5
check "eval.csv has a fedbn row per client at the last round" \
	test "$(awk -F, -v r="$(tail -n1 "$work/one/eval.csv" | cut -d, -f1)" \
		'$1 == r && $2 ~ /^fedbn-/ { print $2 }' "$work/one/eval.csv" | sort -u | wc -l)" -eq 5
check "each client's own norms beat the global model's untrained ones" \
	awk -v f="$(json_field "$m" fedbn_mean)" -v g="$(json_field "$m" final_avg_acc)" \
	'BEGIN { exit !(f > g + 0.05) }'
finish
