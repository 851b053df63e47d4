#!/usr/bin/env bash
# Run any pmkt job with spark-submit:  ./spark-submit.sh [--master URL] <job> [--conf-file F] [--set k=v ...]
# The code ships as a zip (--py-files), the conf file with --files, Delta's jars with --jars.
# The master comes from --master, else $SPARK_MASTER, else local[*].
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MASTER="${SPARK_MASTER:-local[*]}"
SUBMIT_ARGS=()
while [[ $# -gt 0 && "$1" == --* && "$1" != "--help" ]]; do
  case "$1" in
    --master) MASTER="$2"; shift 2 ;;
    --deploy-mode|--driver-memory|--executor-memory|--executor-cores|--num-executors|--total-executor-cores|--conf)
      SUBMIT_ARGS+=("$1" "$2"); shift 2 ;;
    *) echo "spark-submit.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $# -lt 1 ]]; then
  echo "usage: spark-submit.sh [--master URL] <job> [--conf-file F] [--set key=value ...]" >&2
  exit 2
fi

PY="${PMKT_PYTHON:-$HERE/.venv/bin/python}"
[[ -x "$PY" ]] || PY="$(command -v python3)"
SPARK_HOME="${SPARK_HOME:-$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export SPARK_HOME
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PY}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PY}"

# The project's code as a zip: spark-submit only puts .zip, .egg and .py files on the Python path.
# Inside it, jobs/ and libs/ are pmkt/jobs and pmkt/libs, the package names the wheel installs.
mkdir -p "$HERE/build"
ZIP="$HERE/build/pmkt.zip"
"$PY" - "$HERE" "$ZIP" <<'PYEOF'
import os, sys, zipfile
root, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
    zf.writestr("pmkt/__init__.py", "")
    for pkg in ("libs", "jobs"):
        for folder, dirs, files in os.walk(os.path.join(root, pkg)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                path = os.path.join(folder, name)
                zf.write(path, os.path.join("pmkt", os.path.relpath(path, root)))
PYEOF

FILES=()
prev=""
for arg in "$@"; do
  [[ "$prev" == "--conf-file" ]] && FILES=(--files "$arg")
  prev="$arg"
done
JARS=()
if compgen -G "$HERE/.jars/*.jar" > /dev/null; then
  JARS=(--jars "$(ls "$HERE"/.jars/*.jar | paste -sd, -)")
fi

# Under spark-submit the jars are spark-submit's business, not the conf's; the master is passed on so the
# session factory knows whether laptop defaults apply (local) or the cluster's own do.
exec "$SPARK_HOME/bin/spark-submit" --master "$MASTER" "${SUBMIT_ARGS[@]}" \
  --py-files "$ZIP" "${FILES[@]}" "${JARS[@]}" \
  --conf "spark.pyspark.python=$PYSPARK_PYTHON" \
  "$HERE/jobs/__main__.py" "$@" --set "spark.master=$MASTER" --set spark.delta_jars=provided
