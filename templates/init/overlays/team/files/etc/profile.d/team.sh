# shellcheck shell=sh
# Sourced by every `bash -l` GitLab Runner starts: keep it silent and free of anything that needs a
# terminal (a job has none).
export LANG=C.UTF-8
