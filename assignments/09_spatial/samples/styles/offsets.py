# A correct solution that loops only over kernel offsets (KH*KW iterations): each offset
# (u, v) contributes one strided slice of the padded input times one (F, C) weight matrix,
# and backward scatters through the same slices. Max-pooling keeps a running maximum and
# the offset that set it (strictly greater, so the first maximum wins a tie).

# %% conv_output_size
def conv_output_size(size, kernel, stride=1, padding=0):
    return (size + padding * 2 - kernel) // stride + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    return 1 + sum(kernel - 1 for _ in range(num_layers))

# %% conv2d_op
def _tap(a, u, v, oh, ow, sh, sw):
    """The strided slice of padded ``a`` that kernel offset (u, v) meets: (N, C, OH, OW)."""
    return a[:, :, u:u + (oh - 1) * sh + 1:sh, v:v + (ow - 1) * sw + 1:sw]


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        (sh, sw), (ph, pw) = self.stride, self.padding
        n, _, h, wd = x.shape
        f, c, kh, kw = w.shape
        oh = conv_output_size(h, kh, sh, ph)
        ow = conv_output_size(wd, kw, sw, pw)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        acc = np.zeros((n, oh, ow, f))
        for u in range(kh):
            for v in range(kw):
                acc += np.tensordot(_tap(xp, u, v, oh, ow, sh, sw), w[:, :, u, v], axes=([1], [1]))
        out = acc.transpose(0, 3, 1, 2)
        if b is not None:
            out = out + b.reshape(-1, 1, 1)
        self._buf = {"xp": xp, "w": w, "bias": b is not None, "hw": (h, wd)}
        return out

    def backward(self, grad_out):
        xp, w = self._buf["xp"], self._buf["w"]
        h, wd = self._buf["hw"]
        (sh, sw), (ph, pw) = self.stride, self.padding
        f, c, kh, kw = w.shape
        oh, ow = grad_out.shape[2:]
        dxp = np.zeros_like(xp)
        dw = np.empty_like(w)
        for u in range(kh):
            for v in range(kw):
                dw[:, :, u, v] = np.tensordot(grad_out, _tap(xp, u, v, oh, ow, sh, sw), axes=([0, 2, 3], [0, 2, 3]))
                back = np.tensordot(grad_out, w[:, :, u, v], axes=([1], [0]))        # (N, OH, OW, C)
                _tap(dxp, u, v, oh, ow, sh, sw)[...] += back.transpose(0, 3, 1, 2)
        db = grad_out.sum(axis=(0, 2, 3)) if self._buf["bias"] else None
        return dxp[:, :, ph:ph + h, pw:pw + wd], dw, db

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        kh, kw = self.kernel_size
        fan_in = in_channels * kh * kw
        self.weight = Tensor(np.random.normal(scale=np.sqrt(2.0 / fan_in), size=(out_channels, in_channels, kh, kw)),
                             requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels), requires_grad=True) if bias else None

    def forward(self, x):
        op = Conv2dOp(stride=self.stride, padding=self.padding)
        return op(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, wd = x.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(wd, kw, sw, pw)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        best = np.full((n, c, oh, ow), -np.inf)
        which = np.zeros((n, c, oh, ow), dtype=int)
        for u in range(kh):
            for v in range(kw):
                tap = _tap(xp, u, v, oh, ow, sh, sw)
                better = tap > best
                best = np.where(better, tap, best)
                which = np.where(better, u * kw + v, which)
        self._buf = (which, xp.shape, (h, wd))
        return best

    def backward(self, grad_out):
        which, xp_shape, (h, wd) = self._buf
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = grad_out.shape[2:]
        dxp = np.zeros(xp_shape)
        for u in range(kh):
            for v in range(kw):
                _tap(dxp, u, v, oh, ow, sh, sw)[...] += np.where(which == u * kw + v, grad_out, 0.0)
        return (dxp[:, :, ph:ph + h, pw:pw + wd],)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% avgpool2d
class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, wd = x.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(wd, kw, sw, pw)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        total = np.zeros((n, c, oh, ow))
        for u in range(kh):
            for v in range(kw):
                total += _tap(xp, u, v, oh, ow, sh, sw)
        self._buf = (xp.shape, (h, wd))
        return total / (kh * kw)

    def backward(self, grad_out):
        xp_shape, (h, wd) = self._buf
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = grad_out.shape[2:]
        dxp = np.zeros(xp_shape)
        for u in range(kh):
            for v in range(kw):
                _tap(dxp, u, v, oh, ow, sh, sw)[...] += grad_out / (kh * kw)
        return (dxp[:, :, ph:ph + h, pw:pw + wd],)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% flatten
class Flatten(Module):
    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        features = int(np.prod(x.shape[self.start_dim:]))
        return x.reshape(x.shape[:self.start_dim] + (features,))

# %% simplecnn
class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.conv1 = Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1)
        self.relu = ReLU()
        self.pool1 = MaxPool2d(kernel_size=2)
        self.conv2 = Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.pool2 = MaxPool2d(kernel_size=2)
        self.flatten = Flatten()
        self.fc = Linear(64 * (image_size // 2 // 2) ** 2, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool2(self.relu(self.conv2(self.pool1(self.relu(self.conv1(x))))))))


def count_parameters(model):
    return sum(p.size for p in model.parameters())
