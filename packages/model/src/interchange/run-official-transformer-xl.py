# Test driver: runs the official PyTorch Transformer-XL (MemTransformerLM, from a reference folder) on safetensors weights and writes its logits over several segments with memory carried.
#
# Usage: python3 run-official-transformer-xl.py JOBS.json
# JOBS.json: {"reference": "<folder with pytorch/mem_transformer.py>", "jobs": [job, ...]}; each job:
#   config      path of a JSON file with the MemTransformerLM constructor arguments
#   weights     path of the state_dict as safetensors (read; or written when "create" is set)
#   create      optional seed: initialise every parameter randomly with it and write "weights"
#   eval_mem_len optional: model.reset_length(tgt_len, 0, eval_mem_len) before running
#   tokens      [batch][time] token ids, run in segments of tgt_len
#   log_probs   optional: write the log-probability of every token (the adaptive softmax, crit) instead of logits
#   logits      path of the JSON output: [batch][time][n_token]
import json
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    with open(path, "rb") as handle:
        data = handle.read()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    start = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[start + begin : start + end], dtype=np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<"))
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).astype(np.float32))
    return tensors


def write_safetensors(path, tensors):
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        array = tensors[name].detach().cpu().numpy().astype("<f4")
        raw = array.tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


def log_probabilities(crit, hidden):
    """Every token's log-probability under the official criterion: [N, d_model] -> [N, n_token].

    The criterion returns the negative log-probability of one target per row, so each row is
    repeated once per token and asked for every token in turn (keep_order keeps the rows in place).
    """
    rows, vocabulary = hidden.size(0), crit.n_token
    repeated = hidden.repeat_interleave(vocabulary, dim=0)
    targets = torch.arange(vocabulary).repeat(rows)
    return -crit(repeated, targets, keep_order=True).view(rows, vocabulary)


def run(job, MemTransformerLM):
    with open(job["config"]) as handle:
        config = json.load(handle)
    model = MemTransformerLM(**config)
    if "create" in job:
        torch.manual_seed(job["create"])
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("layer_norm.weight"):
                    parameter.copy_(1 + 0.3 * torch.randn_like(parameter))
                else:
                    parameter.copy_(0.3 * torch.randn_like(parameter))
        write_safetensors(job["weights"], model.state_dict())
    else:
        model.load_state_dict(read_safetensors(job["weights"]), strict=True)
    model.eval()
    if "eval_mem_len" in job:
        model.reset_length(config["tgt_len"], 0, job["eval_mem_len"])
    tokens = torch.tensor(job["tokens"], dtype=torch.long).t().contiguous()  # [time, batch]
    mems = model.init_mems()
    pieces = []
    with torch.no_grad():
        for start in range(0, tokens.size(0), config["tgt_len"]):
            segment = tokens[start : start + config["tgt_len"]]
            hidden, mems = model._forward(segment, mems=mems)  # hidden [T, batch, d_model]
            if job.get("log_probs"):
                time, batch = hidden.shape[:2]
                scores = log_probabilities(model.crit, hidden.reshape(time * batch, -1)).view(time, batch, -1)
            else:
                scores = model.crit.out_layers[0](hidden)
            pieces.append(scores.permute(1, 0, 2))  # [batch, T, n_token]
    with open(job["logits"], "w") as handle:
        json.dump(torch.cat(pieces, 1).tolist(), handle)


def main():
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    if torch.version.cuda is None:
        torch.version.cuda = "10.0"  # proj_adaptive_softmax parses it at import; unused on CPU
    reference = spec["reference"]
    sys.path[:0] = [reference + "/pytorch/utils", reference + "/pytorch"]
    from mem_transformer import MemTransformerLM

    for job in spec["jobs"]:
        run(job, MemTransformerLM)


if __name__ == "__main__":
    main()
